-- Which of the caller's vectorizers a name means, for pgai's functions that take a vectorizer by name (ai.drop_vectorizer,
-- ai.vectorizer_embed…). Names are unique per owner (incremental/0016_vectorizer_names_per_owner.sql), and row
-- security shows the caller only the vectorizers of the roles it has the privileges of: its own vectorizer of that
-- name, else the only one it sees; with several and none its own, which one is meant is for the caller to say. NULL
-- when it sees none, as pgai's functions by name then do nothing and return NULL.

CREATE OR REPLACE FUNCTION _pg_llm_catalog.vectorizer_named(vectorizer_name text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  _ids integer[];
BEGIN
  SELECT pg_catalog.array_agg(v.id ORDER BY v.id) INTO _ids FROM _pg_llm_catalog.pg_llm_vectorizers v
   WHERE v.name = vectorizer_name AND v.owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
  IF _ids IS NULL THEN
    SELECT pg_catalog.array_agg(v.id ORDER BY v.id) INTO _ids FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.name = vectorizer_name;
  END IF;
  IF pg_catalog.cardinality(_ids) > 1 THEN
    RAISE EXCEPTION USING ERRCODE = '42725', MESSAGE = pg_catalog.format('more than one vectorizer is named %s', vectorizer_name),
      HINT = pg_catalog.format('Name it by its id, one of %s (their owners differ).', pg_catalog.array_to_string(_ids, ', '));
  END IF;
  RETURN _ids[1];
END
$$;
