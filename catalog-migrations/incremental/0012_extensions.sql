-- The extensions the catalog serves in this database: pg_llm (its functions and those of the other systems it
-- replaces, in public) and ai (pgai's, in schema ai). Each CREATE EXTENSION through the proxy adds its row, each
-- DROP EXTENSION removes it, and the catalog goes with the last one. A catalog older than this table was installed
-- by pg_llm, the only extension there was: its stubs say so.

CREATE TABLE _pg_llm_catalog.pg_llm_extensions (
    name          text PRIMARY KEY,
    installed_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON _pg_llm_catalog.pg_llm_extensions TO PUBLIC;

INSERT INTO _pg_llm_catalog.pg_llm_extensions (name)
SELECT 'pg_llm' WHERE to_regprocedure('public.pg_llm_chat(text,text)') IS NOT NULL;
