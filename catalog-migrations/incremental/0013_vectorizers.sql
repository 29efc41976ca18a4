-- pgai's vectorizers (ai.create_vectorizer): one row each, with pgai's columns, and the errors the proxy's worker
-- met processing them. The views pgai's users query (ai.vectorizer, ai.vectorizer_errors, ai.vectorizer_status) are
-- installed with the ai extension (catalog-migrations/extensions/ai.sql).
--
-- A vectorizer belongs to the owner of its source table (owner): its store, view, queue and trigger function are
-- that role's, and the worker connected as that role processes it. Each role sees and changes only the vectorizers
-- of the roles it has the privileges of; ai.create_vectorizer, running as its caller, adds its row under these rules.

CREATE SEQUENCE _pg_llm_catalog.pg_llm_vectorizer_id_seq AS integer;
GRANT USAGE ON SEQUENCE _pg_llm_catalog.pg_llm_vectorizer_id_seq TO PUBLIC;

CREATE TABLE _pg_llm_catalog.pg_llm_vectorizers (
    id                  integer PRIMARY KEY DEFAULT nextval('_pg_llm_catalog.pg_llm_vectorizer_id_seq'),
    name                name NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z_0-9]*$'),
    owner               oid NOT NULL,
    source_schema       name NOT NULL,
    source_table        name NOT NULL,
    -- The source's primary key: [{"attnum", "pknum", "attname", "typname"}], as pgai records it.
    source_pk           jsonb NOT NULL,
    trigger_name        name NOT NULL,
    queue_schema        name NOT NULL,
    queue_table         name NOT NULL,
    queue_failed_table  name NOT NULL,
    -- The configuration objects of the builders, by kind (loading, embedding, chunking…), and pgai's version key.
    config              jsonb NOT NULL,
    disabled            boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE _pg_llm_catalog.pg_llm_vectorizer_id_seq OWNED BY _pg_llm_catalog.pg_llm_vectorizers.id;

CREATE TABLE _pg_llm_catalog.pg_llm_vectorizer_errors (
    id        integer NOT NULL REFERENCES _pg_llm_catalog.pg_llm_vectorizers (id) ON DELETE CASCADE,
    message   text,
    details   jsonb,
    recorded  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pg_llm_vectorizer_errors_by_time ON _pg_llm_catalog.pg_llm_vectorizer_errors (id, recorded);

GRANT SELECT, INSERT, UPDATE, DELETE ON _pg_llm_catalog.pg_llm_vectorizers TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON _pg_llm_catalog.pg_llm_vectorizer_errors TO PUBLIC;
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers ENABLE ROW LEVEL SECURITY;
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizer_errors ENABLE ROW LEVEL SECURITY;

-- A row names its owner, who must own the source table: nobody records a vectorizer of another role's table.
CREATE POLICY own_vectorizers ON _pg_llm_catalog.pg_llm_vectorizers
  USING (pg_catalog.pg_has_role(current_user, owner, 'USAGE') OR _pg_llm_catalog.is_admin())
  WITH CHECK (
    pg_catalog.pg_has_role(current_user, owner, 'MEMBER')
    AND owner = (SELECT c.relowner FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = source_schema AND c.relname = source_table));
CREATE POLICY own_vectorizer_errors ON _pg_llm_catalog.pg_llm_vectorizer_errors
  USING (EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id = pg_llm_vectorizer_errors.id));
