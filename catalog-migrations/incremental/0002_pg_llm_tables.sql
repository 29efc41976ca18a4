-- The rest of pg_llm v1.1's catalog (COMPAT.md): sessions and their messages, traces, reports, the knowledge corpus,
-- feedback, text2sql history and stored vectors. Every row records the role that wrote it, for the row-level
-- security that keeps one role's rows from another. Vectors are real[] here; where the upstream has pgvector a later
-- level adds vector columns beside them.

CREATE TABLE _pg_llm_catalog.pg_llm_sessions (
    session_id        text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    max_messages      integer NOT NULL DEFAULT 10 CHECK (max_messages > 0),
    state             jsonb NOT NULL DEFAULT '{}'::jsonb,
    role_name         name NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_active_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE _pg_llm_catalog.pg_llm_session_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  text NOT NULL REFERENCES _pg_llm_catalog.pg_llm_sessions ON DELETE CASCADE,
    request_id  uuid,
    role        text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content     text NOT NULL,
    role_name   name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pg_llm_session_messages_session ON _pg_llm_catalog.pg_llm_session_messages (session_id, id);

CREATE TABLE _pg_llm_catalog.pg_llm_trace_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  uuid NOT NULL,
    step        text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    role_name   name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pg_llm_trace_log_request_id ON _pg_llm_catalog.pg_llm_trace_log (request_id);

CREATE TABLE _pg_llm_catalog.pg_llm_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     uuid,
    instance_name  text,
    sql            text NOT NULL,
    report         jsonb NOT NULL,
    role_name      name NOT NULL DEFAULT current_user,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE _pg_llm_catalog.pg_llm_knowledge_documents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_name  text NOT NULL,
    content      text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    role_name    name NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE _pg_llm_catalog.pg_llm_knowledge_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id  bigint NOT NULL REFERENCES _pg_llm_catalog.pg_llm_knowledge_documents ON DELETE CASCADE,
    chunk_index  integer NOT NULL,
    content      text NOT NULL,
    embedding    real[],
    search       tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
    role_name    name NOT NULL DEFAULT current_user,
    UNIQUE (document_id, chunk_index)
);
CREATE INDEX pg_llm_knowledge_chunks_search ON _pg_llm_catalog.pg_llm_knowledge_chunks USING gin (search);

CREATE TABLE _pg_llm_catalog.pg_llm_feedback (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  uuid NOT NULL,
    rating      integer NOT NULL,
    feedback    text,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    role_name   name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pg_llm_feedback_request_id ON _pg_llm_catalog.pg_llm_feedback (request_id);

CREATE TABLE _pg_llm_catalog.pg_llm_queries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     uuid,
    instance_name  text,
    question       text NOT NULL,
    sql            text NOT NULL,
    embedding      real[],
    role_name      name NOT NULL DEFAULT current_user,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE _pg_llm_catalog.pg_llm_vectors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name   text NOT NULL,
    column_name  text NOT NULL,
    row_id       bigint NOT NULL,
    embedding    real[] NOT NULL,
    metadata     jsonb,
    role_name    name NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON
    _pg_llm_catalog.pg_llm_sessions, _pg_llm_catalog.pg_llm_session_messages, _pg_llm_catalog.pg_llm_reports,
    _pg_llm_catalog.pg_llm_knowledge_documents, _pg_llm_catalog.pg_llm_knowledge_chunks, _pg_llm_catalog.pg_llm_vectors
    TO PUBLIC;
GRANT SELECT, INSERT ON _pg_llm_catalog.pg_llm_trace_log, _pg_llm_catalog.pg_llm_feedback, _pg_llm_catalog.pg_llm_queries TO PUBLIC;
