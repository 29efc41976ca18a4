-- The worker reads the config and source key of every vectorizer it serves at each look (src/worker/vectorizers.ts's
-- servedVectorizers) and parses them on the event loop every session shares; any role may write its own vectorizer's
-- (INSERT, UPDATE (config)) of any size, and a 200 MB one would hold every session up at each look (review40). An
-- enabled vectorizer keeps its config within 1 MiB as JSON text and its source key within 64 kB; one already bigger
-- is disabled here, and cannot be enabled again until its config is smaller.
UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = true
 WHERE NOT disabled AND (octet_length(config::text) > 1048576 OR octet_length(source_pk::text) > 65536);
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers DROP CONSTRAINT IF EXISTS pg_llm_vectorizers_read_size;
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers ADD CONSTRAINT pg_llm_vectorizers_read_size
  CHECK (disabled OR (octet_length(config::text) <= 1048576 AND octet_length(source_pk::text) <= 65536));
