-- A vectorizer's embedding base_url may carry no user, password or query (review S-E): the row keeps its config in
-- clear for its owner and every role with the owner's rights, and the worker would send such a URL's credentials
-- to the server with each request. The proxy refuses the forms of it it can read in a statement before the server
-- sees them (src/sql/embedding-urls.ts); any other construction (jsonb_set, ||, chr(63), a function of the role's
-- own, dynamic SQL, a bound jsonb…) ends here, the one place every config is stored. A trigger rather than a CHECK:
-- a failed CHECK's detail would show the row, the URL with it, to the client and the server's log.
--
-- '@' or '?' anywhere: no URL parser finds a user or a query in a text without them. A row already stored with one
-- is disabled, its URL's user, password and query are taken out (the worker could not have used them), and it is not
-- enabled again while its URL still has an '@' or a '?'.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.vectorizer_url_without_credentials() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF (TG_OP = 'INSERT' OR NEW.config IS DISTINCT FROM OLD.config OR (OLD.disabled AND NOT NEW.disabled))
     AND (NEW.config -> 'embedding' ->> 'base_url') ~ '[@?]' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('the embedding base_url of vectorizer "%s" cannot carry a user, a password or a query', NEW.name),
      HINT = 'The vectorizer''s config is kept in clear. Give the key with api_key_name (a session''s SET ai.<name>, or the proxy''s environment), and the URL without it.';
  END IF;
  RETURN NEW;
END
$$;

UPDATE _pg_llm_catalog.pg_llm_vectorizers
   SET disabled = true,
       config = jsonb_set(config, '{embedding,base_url}',
                  to_jsonb(regexp_replace(regexp_replace(config -> 'embedding' ->> 'base_url', '\?.*$', ''),
                                          '^([a-zA-Z][a-zA-Z0-9+.-]*:[/\\]+)?.*@', '\1')))
 WHERE (config -> 'embedding' ->> 'base_url') ~ '[@?]';

DROP TRIGGER IF EXISTS url_without_credentials ON _pg_llm_catalog.pg_llm_vectorizers;
CREATE TRIGGER url_without_credentials BEFORE INSERT OR UPDATE ON _pg_llm_catalog.pg_llm_vectorizers
  FOR EACH ROW EXECUTE FUNCTION _pg_llm_catalog.vectorizer_url_without_credentials();
