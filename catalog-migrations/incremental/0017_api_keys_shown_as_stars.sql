-- An API key's column showed its last four characters, to every role that may read the models table; it shows no
-- part of the key now. Only the plaintext column changes: the sealed key, and what it is bound to, stay as they are.
UPDATE _pg_llm_catalog.pg_llm_models SET api_key = '****' WHERE api_key IS NOT NULL AND api_key <> '****';
