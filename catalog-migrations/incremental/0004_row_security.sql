-- Multi-user safety: each role sees and changes only its own rows of the per-user catalog tables (sessions and
-- their messages, audit and trace, reports, knowledge, feedback, text2sql history, vectors), and only the role that
-- registered a model may replace or remove it. Members of the admin role named in pg_llm_config (default
-- 'pg_llm_admin', when that role exists) see every row; so do the catalog's owner and superusers, whom row-level
-- security does not apply to. Rows are always written as the current role: WITH CHECK refuses another name.

CREATE TABLE _pg_llm_catalog.pg_llm_config (
    name   text PRIMARY KEY,
    value  text NOT NULL
);
INSERT INTO _pg_llm_catalog.pg_llm_config (name, value) VALUES ('admin_role', 'pg_llm_admin');
GRANT SELECT ON _pg_llm_catalog.pg_llm_config TO PUBLIC;

CREATE FUNCTION _pg_llm_catalog.is_admin() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM _pg_llm_catalog.pg_llm_config c JOIN pg_catalog.pg_roles r ON r.rolname = c.value
     WHERE c.name = 'admin_role' AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
$$;

DO $$
DECLARE
  owned text;
BEGIN
  FOREACH owned IN ARRAY ARRAY['pg_llm_sessions', 'pg_llm_session_messages', 'pg_llm_audit_log', 'pg_llm_trace_log',
      'pg_llm_reports', 'pg_llm_knowledge_documents', 'pg_llm_knowledge_chunks', 'pg_llm_feedback', 'pg_llm_queries',
      'pg_llm_vectors'] LOOP
    EXECUTE format('ALTER TABLE _pg_llm_catalog.%I ENABLE ROW LEVEL SECURITY', owned);
    EXECUTE format('CREATE POLICY own_rows ON _pg_llm_catalog.%I USING (role_name = current_user OR _pg_llm_catalog.is_admin())
                    WITH CHECK (role_name = current_user)', owned);
  END LOOP;
END
$$;

-- Every role may use every model, as with the extension; changing one is its registrant's (or an admin's) business.
ALTER TABLE _pg_llm_catalog.pg_llm_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_models ON _pg_llm_catalog.pg_llm_models FOR SELECT USING (true);
CREATE POLICY register_models ON _pg_llm_catalog.pg_llm_models FOR INSERT WITH CHECK (created_by = current_user);
CREATE POLICY change_own_models ON _pg_llm_catalog.pg_llm_models FOR UPDATE
    USING (created_by = current_user OR _pg_llm_catalog.is_admin()) WITH CHECK (created_by = current_user OR _pg_llm_catalog.is_admin());
CREATE POLICY remove_own_models ON _pg_llm_catalog.pg_llm_models FOR DELETE USING (created_by = current_user OR _pg_llm_catalog.is_admin());
