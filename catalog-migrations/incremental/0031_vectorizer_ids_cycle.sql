-- A vectorizer's id is an integer (pgai's ai.create_vectorizer returns one), drawn from a sequence every role may
-- draw from: the id_drawn trigger (0027) checks that the creator's session drew it. One role drawing all 2^31 ids
-- (about 20 minutes of nextval in one session) left every role's ai.create_vectorizer failing until the catalog's
-- owner reset the sequence (review40). The sequence now starts again at 1 when it runs out, and ai.create_vectorizer
-- passes over the ids vectorizers still hold; the rows are each role's own (row security), so whether an id is held
-- is asked of this function, which tells no more than that.
ALTER SEQUENCE _pg_llm_catalog.pg_llm_vectorizer_id_seq CYCLE;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.vectorizer_id_held(id integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id OPERATOR(pg_catalog.=) $1) $$;
REVOKE ALL ON FUNCTION _pg_llm_catalog.vectorizer_id_held(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION _pg_llm_catalog.vectorizer_id_held(integer) TO PUBLIC;
