-- The batches of embeddings requests the worker submitted to OpenAI's batch API for a vectorizer whose processing
-- config says "batch_api": true (src/worker/vectorizer-batches.ts): the rows of its queue a batch took are tracked
-- here until the batch has ended and its embeddings are in the store, or its rows are back in the queue. A batch
-- names the keys it took, with their retries so far, and for each of its requests the digests of the texts it asked
-- embeddings of: the rows' texts are read again once it ends, and a row whose text changed meanwhile (queued again by
-- its trigger) is left to its newer queue row. A batch's rows go with its vectorizer, and are seen and changed by
-- whoever sees the vectorizer, as its errors are; they are deleted by being marked (0018).

CREATE TABLE _pg_llm_catalog.pg_llm_vectorizer_batches (
    id         integer NOT NULL REFERENCES _pg_llm_catalog.pg_llm_vectorizers (id) ON DELETE CASCADE,
    batch_id   text NOT NULL,
    -- [{"key": {column: value…}, "retries": n}]: the queue rows taken, one per key.
    keys       jsonb NOT NULL,
    -- [["sha256 hex"…]…]: each request's texts, in the order of its custom_id (0, 1…).
    requests   jsonb NOT NULL,
    submitted  timestamptz NOT NULL DEFAULT now(),
    deleted    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (id, batch_id)
);
COMMENT ON COLUMN _pg_llm_catalog.pg_llm_vectorizer_batches.deleted IS 'Set it to true to delete the row (UPDATE … SET deleted = true): the rows your UPDATE may change are the rows you may delete.';
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizer_batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_vectorizer_batches ON _pg_llm_catalog.pg_llm_vectorizer_batches
  USING (EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id = pg_llm_vectorizer_batches.id));
GRANT SELECT, INSERT, UPDATE (deleted) ON _pg_llm_catalog.pg_llm_vectorizer_batches TO PUBLIC;

-- The marked rows of the new table are deleted as those of the others are.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.delete_marked_row() RETURNS trigger
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
    WHEN '_pg_llm_catalog.pg_llm_vectorizer_batches'::regclass THEN
      DELETE FROM _pg_llm_catalog.pg_llm_vectorizer_batches t WHERE t.id = NEW.id AND t.batch_id = NEW.batch_id;
  END CASE;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION _pg_llm_catalog.delete_marked_row() FROM PUBLIC;
CREATE TRIGGER delete_marked AFTER INSERT OR UPDATE OF deleted ON _pg_llm_catalog.pg_llm_vectorizer_batches
  FOR EACH ROW WHEN (NEW.deleted) EXECUTE FUNCTION _pg_llm_catalog.delete_marked_row();
