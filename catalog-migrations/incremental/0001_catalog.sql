-- The catalog's first level: model instances (secrets only in encrypted columns) and the audit log that every
-- LLM call writes, correlated by request_id.

CREATE TABLE _pg_llm_catalog.pg_llm_models (
    instance_name      text PRIMARY KEY,
    model_type         text NOT NULL,
    local_model        boolean NOT NULL DEFAULT false,
    -- pg_llm kept these in clear; here they only ever hold a redacted form, never the secret.
    api_key            text,
    config             jsonb NOT NULL DEFAULT '{}'::jsonb,
    encrypted_api_key  bytea,
    encrypted_config   bytea,
    created_by         name NOT NULL DEFAULT current_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE _pg_llm_catalog.pg_llm_audit_log (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id         uuid NOT NULL,
    event_type         text NOT NULL,
    instance_name      text,
    session_id         text,
    success            boolean NOT NULL,
    confidence_score   double precision,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    role_name          name NOT NULL DEFAULT current_user,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX pg_llm_audit_log_request_id ON _pg_llm_catalog.pg_llm_audit_log (request_id);
CREATE INDEX pg_llm_audit_log_created_at ON _pg_llm_catalog.pg_llm_audit_log (created_at);

-- Every role may use the LLM functions, as with the extension (all of them executable by PUBLIC); what a role may
-- see of other roles' rows is narrowed by row-level security in later levels.
GRANT USAGE ON SCHEMA _pg_llm_catalog TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON _pg_llm_catalog.pg_llm_models TO PUBLIC;
GRANT SELECT, INSERT ON _pg_llm_catalog.pg_llm_audit_log TO PUBLIC;
