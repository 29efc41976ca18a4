-- ai.set_scheduling, running as its caller, changes the scheduling and indexing in a vectorizer's config; 0018 left
-- the owners column grants on disabled and deleted only, so it failed with "permission denied". The row-level
-- security of 0013 still decides whose rows a role may change.
GRANT UPDATE (config) ON _pg_llm_catalog.pg_llm_vectorizers TO PUBLIC;
