-- A vectorizer's name is unique among its owner's vectorizers, not among everyone's: each role sees only its own
-- (0013_vectorizers.sql), so a name taken by another role could not be seen, yet would stop the owner's
-- ai.create_vectorizer, whose default name (<schema>_<table>_embedding_store) anyone could take first.

ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers
  DROP CONSTRAINT pg_llm_vectorizers_name_key,
  ADD CONSTRAINT pg_llm_vectorizers_owner_name_key UNIQUE (owner, name);
