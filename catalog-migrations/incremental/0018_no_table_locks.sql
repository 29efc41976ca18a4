-- No role but the catalog's owner may lock a catalog table beyond ROW EXCLUSIVE. PostgreSQL lets LOCK TABLE take any
-- mode for a role holding UPDATE, DELETE or TRUNCATE on the table itself (its column grants do not count), and every
-- role held UPDATE or DELETE on most catalog tables: BEGIN; LOCK TABLE _pg_llm_catalog.pg_llm_models IN ACCESS
-- EXCLUSIVE MODE; left open, stalled every other role's model calls. The same held for llm.queue, whose UPDATE and
-- DELETE the worker's roles were told to take: LOCK on a view locks its tables with the view owner's rights.
--
-- So rows are changed through column grants only, and deleted by being marked: UPDATE … SET deleted = true passes the
-- table's row-level security for UPDATE, as any change does, and a trigger deletes each row so marked, as the
-- catalog's owner, within the same statement. Which rows a role may delete is still decided by its policies alone:
-- the USING of each table's DELETE rule becomes that of an UPDATE policy whose WITH CHECK lets a marked row through.
-- A row never stays marked: the trigger also deletes one inserted marked.

-- A vectorizer's errors had no key to name one by.
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizer_errors ADD COLUMN error_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

-- Deletes the marked row by its key. SECURITY DEFINER: the caller may not DELETE; its UPDATE has passed the table's
-- policies already, so it is the caller's own decision, taken under its own rules, that this carries out. Only the
-- catalog's triggers call it (no role may EXECUTE it, which CREATE TRIGGER asks for), and it knows the catalog's
-- tables by oid, so on any other table it fails rather than delete anything.
CREATE FUNCTION _pg_llm_catalog.delete_marked_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  CASE TG_RELID
    WHEN '_pg_llm_catalog.pg_llm_models'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_models t WHERE t.instance_name = NEW.instance_name;
    WHEN '_pg_llm_catalog.pg_llm_sessions'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_sessions t WHERE t.session_id = NEW.session_id;
    WHEN '_pg_llm_catalog.pg_llm_reports'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_reports t WHERE t.id = NEW.id;
    WHEN '_pg_llm_catalog.pg_llm_knowledge_documents'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_knowledge_documents t WHERE t.id = NEW.id;
    WHEN '_pg_llm_catalog.pg_llm_vectors'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_vectors t WHERE t.id = NEW.id;
    WHEN '_pg_llm_catalog.pg_llm_vectorizers'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_vectorizers t WHERE t.id = NEW.id;
    WHEN '_pg_llm_catalog.pg_llm_vectorizer_errors'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_vectorizer_errors t WHERE t.error_id = NEW.error_id;
    WHEN '_pg_llm_catalog.pg_llm_queue'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_queue t WHERE t.id = NEW.id;
  END CASE;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION _pg_llm_catalog.delete_marked_row() FROM PUBLIC;

-- A session's messages and a document's chunks go with their parent (ON DELETE CASCADE, run as the tables' owner), as
-- the functions always deleted them; no role deletes them one by one any more.
DO $$
DECLARE
  marked text;
BEGIN
  FOREACH marked IN ARRAY ARRAY['pg_llm_models', 'pg_llm_sessions', 'pg_llm_reports', 'pg_llm_knowledge_documents', 'pg_llm_vectors',
      'pg_llm_vectorizers', 'pg_llm_vectorizer_errors', 'pg_llm_queue'] LOOP
    EXECUTE format('ALTER TABLE _pg_llm_catalog.%I ADD COLUMN deleted boolean NOT NULL DEFAULT false', marked);
    EXECUTE format($comment$COMMENT ON COLUMN _pg_llm_catalog.%I.deleted IS 'Set it to true to delete the row (UPDATE … SET deleted = true): the rows your UPDATE may change are the rows you may delete.'$comment$, marked);
    EXECUTE format('CREATE TRIGGER delete_marked AFTER INSERT OR UPDATE OF deleted ON _pg_llm_catalog.%I
                    FOR EACH ROW WHEN (NEW.deleted) EXECUTE FUNCTION _pg_llm_catalog.delete_marked_row()', marked);
  END LOOP;
END
$$;

-- Who may delete which rows, as before: a role its own rows, an admin any (DELETE took no WITH CHECK).
DO $$
DECLARE
  owned text;
BEGIN
  FOREACH owned IN ARRAY ARRAY['pg_llm_sessions', 'pg_llm_reports', 'pg_llm_knowledge_documents', 'pg_llm_vectors'] LOOP
    EXECUTE format('CREATE POLICY delete_rows ON _pg_llm_catalog.%I FOR UPDATE
                    USING (role_name = current_user OR (SELECT _pg_llm_catalog.is_admin())) WITH CHECK (deleted)', owned);
  END LOOP;
END
$$;
-- A vectorizer whose source table is gone can still be dropped, and an admin may delete any.
CREATE POLICY delete_rows ON _pg_llm_catalog.pg_llm_vectorizers FOR UPDATE
  USING (pg_catalog.pg_has_role(current_user, owner, 'USAGE') OR (SELECT _pg_llm_catalog.is_admin())) WITH CHECK (deleted);
-- A model's registrant could remove it without being allowed to register models: may_register(), which raises rather
-- than return false, is asked only of a change that keeps the row (CASE, as OR would not say which it asks first).
DROP POLICY remove_own_models ON _pg_llm_catalog.pg_llm_models;
ALTER POLICY change_own_models ON _pg_llm_catalog.pg_llm_models
    WITH CHECK ((created_by = current_user AND CASE WHEN deleted THEN true ELSE _pg_llm_catalog.may_register() END) OR (SELECT _pg_llm_catalog.is_admin()));
-- A vectorizer's errors go with whoever sees the vectorizer (own_vectorizer_errors), as before.

-- The columns the proxy's functions change, and deleted.
REVOKE DELETE ON _pg_llm_catalog.pg_llm_models, _pg_llm_catalog.pg_llm_vectorizer_errors FROM PUBLIC;
REVOKE UPDATE, DELETE ON _pg_llm_catalog.pg_llm_sessions, _pg_llm_catalog.pg_llm_session_messages, _pg_llm_catalog.pg_llm_reports,
    _pg_llm_catalog.pg_llm_knowledge_documents, _pg_llm_catalog.pg_llm_knowledge_chunks, _pg_llm_catalog.pg_llm_vectors,
    _pg_llm_catalog.pg_llm_vectorizers FROM PUBLIC;
GRANT UPDATE (deleted) ON _pg_llm_catalog.pg_llm_models, _pg_llm_catalog.pg_llm_reports, _pg_llm_catalog.pg_llm_knowledge_documents,
    _pg_llm_catalog.pg_llm_vectors, _pg_llm_catalog.pg_llm_vectorizer_errors TO PUBLIC;
GRANT UPDATE (max_messages, state, last_active_time, deleted) ON _pg_llm_catalog.pg_llm_sessions TO PUBLIC;
GRANT UPDATE (disabled, deleted) ON _pg_llm_catalog.pg_llm_vectorizers TO PUBLIC;

CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin, deleted
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE (SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass)
      OR (SELECT _pg_llm_catalog.is_admin())
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = q.table_schema AND c.relname = q.table_name AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'))
  WITH CASCADED CHECK OPTION;

-- The grants the worker's roles were told to take on llm.queue become the column grants they are told to take now:
-- UPDATE of the columns the worker writes, and of deleted for a role that could DELETE.
DO $$
DECLARE
  granted record;
BEGIN
  FOR granted IN
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee,
           pg_catalog.bool_or(a.privilege_type = 'UPDATE') AS updates, pg_catalog.bool_or(a.privilege_type = 'DELETE') AS deletes
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     WHERE c.oid = 'llm.queue'::pg_catalog.regclass AND a.grantee <> c.relowner AND a.privilege_type IN ('UPDATE', 'DELETE')
     GROUP BY a.grantee
  LOOP
    EXECUTE pg_catalog.format('REVOKE UPDATE, DELETE ON llm.queue FROM %s', granted.grantee);
    IF granted.updates THEN
      EXECUTE pg_catalog.format('GRANT UPDATE (status, attempts, last_error, run_after, worker, lease_until, started_at, processed_at, row_xmin) ON llm.queue TO %s', granted.grantee);
    END IF;
    IF granted.deletes THEN
      EXECUTE pg_catalog.format('GRANT UPDATE (deleted) ON llm.queue TO %s', granted.grantee);
    END IF;
  END LOOP;
END
$$;
