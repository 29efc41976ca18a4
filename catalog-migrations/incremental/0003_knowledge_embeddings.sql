-- Which embedding a knowledge document's chunks were embedded with: a search embeds its query the same way and
-- compares it only with those chunks, as vectors of different models mean nothing to each other even when their
-- lengths agree.

ALTER TABLE _pg_llm_catalog.pg_llm_knowledge_documents
    -- The model instance; NULL for the proxy's built-in local embedding.
    ADD COLUMN embedding_instance    text,
    -- The model as its provider names it in the embeddings answer ('local' for the built-in one).
    ADD COLUMN embedding_model       text,
    ADD COLUMN embedding_dimensions  integer;
