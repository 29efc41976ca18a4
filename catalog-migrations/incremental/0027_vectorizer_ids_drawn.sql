-- A vectorizer's id is the one its creator's session drew from the sequence last: ai.create_vectorizer draws it,
-- names its queue's trigger function after it, then inserts the row. Any role may insert vectorizer rows of its own
-- (the policies keep them to tables it owns), and could give them the ids the sequence is still to hand out, so that
-- every other role's ai.create_vectorizer failed on the primary key (review23); now a row takes only an id its
-- session drew.
CREATE FUNCTION _pg_llm_catalog.vectorizer_id_drawn() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  drawn integer;
BEGIN
  BEGIN
    drawn := currval('_pg_llm_catalog.pg_llm_vectorizer_id_seq');
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    drawn := NULL;
  END;
  IF NEW.id IS DISTINCT FROM drawn THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('vectorizer id %s was not drawn by this session: ai.create_vectorizer draws the id of the vectorizer it creates', NEW.id),
      HINT = 'Create vectorizers with ai.create_vectorizer.';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER id_drawn BEFORE INSERT ON _pg_llm_catalog.pg_llm_vectorizers
  FOR EACH ROW EXECUTE FUNCTION _pg_llm_catalog.vectorizer_id_drawn();
