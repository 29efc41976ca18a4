-- A foreign key is checked past row-level security: a role could add messages to another role's session, or chunks
-- to another's document, knowing its id, and an admin reading that session or searching that corpus would get them.
-- A child row must hang under a parent of the writer's own.
CREATE POLICY own_session ON _pg_llm_catalog.pg_llm_session_messages AS RESTRICTIVE FOR ALL USING (true)
    WITH CHECK (EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_sessions s
                         WHERE s.session_id = pg_llm_session_messages.session_id AND s.role_name = current_user));
CREATE POLICY own_document ON _pg_llm_catalog.pg_llm_knowledge_chunks AS RESTRICTIVE FOR ALL USING (true)
    WITH CHECK (EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_knowledge_documents d
                         WHERE d.id = pg_llm_knowledge_chunks.document_id AND d.role_name = current_user));
