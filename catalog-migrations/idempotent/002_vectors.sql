-- Embeddings in pgvector's vector type where the database has pgvector, real[] where it has not. Re-applied on
-- every install rather than applied once: a database that gains pgvector after pg_llm (CREATE EXTENSION vector,
-- then ALTER EXTENSION pg_llm UPDATE through the proxy) has its real[] columns converted then. The column types
-- are the record the proxy spells the stubs after (src/catalog/migrate.ts).
--
-- _pg_llm_catalog.cosine_similarity(embedding, query real[]) works on either: pgvector's <=> operator on vector
-- columns, plain SQL over real[]. Vectors of different lengths, and zero vectors, have no similarity (NULL),
-- rather than an error or NaN (which sorts above every number). The proxy calls it in the caller's session, so it
-- names the schema of everything it calls: a function or operator of the caller's own, first in its search_path,
-- must not stand in for PostgreSQL's (or pgvector's).

CREATE OR REPLACE FUNCTION _pg_llm_catalog.cosine_similarity(embedding real[], query real[]) RETURNS real
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN pg_catalog.cardinality(embedding) OPERATOR(pg_catalog.=) pg_catalog.cardinality(query) THEN
    (SELECT CASE WHEN norms OPERATOR(pg_catalog.<>) 0 THEN (dot OPERATOR(pg_catalog./) norms)::real END
       FROM (SELECT pg_catalog.sum(e::float8 OPERATOR(pg_catalog.*) q) AS dot,
                    pg_catalog.sqrt(pg_catalog.sum(e::float8 OPERATOR(pg_catalog.*) e))
                      OPERATOR(pg_catalog.*) pg_catalog.sqrt(pg_catalog.sum(q::float8 OPERATOR(pg_catalog.*) q)) AS norms
               FROM ROWS FROM (pg_catalog.unnest(embedding), pg_catalog.unnest(query)) AS pair(e, q)) AS sums)
  END
$$;

DO $$
DECLARE
  table_name text;
  catalog_table regclass;
  -- pgvector's schema, named below rather than found through the search_path (the install's is pg_catalog's alone).
  pgvector name := (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'vector');
  has_pgvector boolean := pgvector IS NOT NULL;
BEGIN
  FOREACH table_name IN ARRAY ARRAY['_pg_llm_catalog.pg_llm_vectors', '_pg_llm_catalog.pg_llm_knowledge_chunks', '_pg_llm_catalog.pg_llm_queries'] LOOP
    catalog_table := to_regclass(table_name);
    CONTINUE WHEN catalog_table IS NULL;
    -- DROP EXTENSION vector CASCADE takes converted columns with it: they come back, empty, as real[].
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = catalog_table AND attname = 'embedding' AND NOT attisdropped) THEN
      EXECUTE format('ALTER TABLE %s ADD COLUMN embedding real[]', catalog_table);
    END IF;
    IF has_pgvector AND (SELECT atttypid FROM pg_attribute WHERE attrelid = catalog_table AND attname = 'embedding') = 'real[]'::regtype THEN
      EXECUTE format('ALTER TABLE %1$s ALTER COLUMN embedding TYPE %2$I.vector USING embedding::%2$I.vector', catalog_table, pgvector);
    END IF;
  END LOOP;
  IF has_pgvector THEN
    -- Not STRICT, and no subquery, so that PostgreSQL inlines it and the comparison is pgvector's own operator in the
    -- caller's plan (NULLIF would look its "=" up in the caller's search_path, hence the distance written twice).
    EXECUTE format($create$
      CREATE OR REPLACE FUNCTION _pg_llm_catalog.cosine_similarity(embedding %1$I.vector, query real[]) RETURNS real
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
        SELECT CASE WHEN %1$I.vector_dims(embedding) OPERATOR(pg_catalog.=) pg_catalog.cardinality(query) THEN
          CASE WHEN (embedding OPERATOR(%1$I.<=>) query::%1$I.vector) OPERATOR(pg_catalog.<>) 'NaN'
            THEN (1 OPERATOR(pg_catalog.-) (embedding OPERATOR(%1$I.<=>) query::%1$I.vector))::real END
        END
      $body$
    $create$, pgvector);
  END IF;
END
$$;
