-- Embeddings in pgvector's vector type where the database has pgvector, real[] where it has not. Re-applied on
-- every install rather than applied once: a database that gains pgvector after pg_llm (CREATE EXTENSION vector,
-- then ALTER EXTENSION pg_llm UPDATE through the proxy) has its real[] columns converted then. The column types
-- are the record the proxy spells the stubs after (src/catalog/migrate.ts).
--
-- _pg_llm_catalog.cosine_similarity(embedding, query real[]) works on either: pgvector's <=> operator on vector
-- columns, plain SQL over real[]. Vectors of different lengths, and zero vectors, have no similarity (NULL),
-- rather than an error or NaN (which sorts above every number).

CREATE OR REPLACE FUNCTION _pg_llm_catalog.cosine_similarity(embedding real[], query real[]) RETURNS real
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN cardinality(embedding) = cardinality(query) THEN
    (SELECT (sum(e::float8 * q) / nullif(sqrt(sum(e::float8 * e)) * sqrt(sum(q::float8 * q)), 0))::real
       FROM unnest(embedding, query) AS pair(e, q))
  END
$$;

DO $$
DECLARE
  table_name text;
  catalog_table regclass;
  has_pgvector boolean := to_regtype('vector') IS NOT NULL;
BEGIN
  FOREACH table_name IN ARRAY ARRAY['_pg_llm_catalog.pg_llm_vectors', '_pg_llm_catalog.pg_llm_knowledge_chunks', '_pg_llm_catalog.pg_llm_queries'] LOOP
    catalog_table := to_regclass(table_name);
    CONTINUE WHEN catalog_table IS NULL;
    -- DROP EXTENSION vector CASCADE takes converted columns with it: they come back, empty, as real[].
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = catalog_table AND attname = 'embedding' AND NOT attisdropped) THEN
      EXECUTE format('ALTER TABLE %s ADD COLUMN embedding real[]', catalog_table);
    END IF;
    IF has_pgvector AND (SELECT atttypid FROM pg_attribute WHERE attrelid = catalog_table AND attname = 'embedding') = 'real[]'::regtype THEN
      EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding TYPE vector USING embedding::vector', catalog_table);
    END IF;
  END LOOP;
  IF has_pgvector THEN
    -- Not STRICT, so that PostgreSQL inlines it and the comparison is pgvector's own operator in the caller's plan.
    CREATE OR REPLACE FUNCTION _pg_llm_catalog.cosine_similarity(embedding vector, query real[]) RETURNS real
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
      SELECT CASE WHEN vector_dims(embedding) = cardinality(query) THEN nullif(1 - (embedding <=> query::vector), 'NaN')::real END
    $body$;
  END IF;
END
$$;
