-- A vectorizer's owner may write rows of its batches (the worker writes them in the owner's name), so a row could name
-- a batch the worker submitted for another role's texts with the proxy's key, and have that batch's embeddings written
-- in the owner's store. A batch now carries a random tag in the provider's metadata, kept in its row, which nobody
-- but those who see the vectorizer reads: a row whose batch does not carry its tag has its batch failed, and its rows
-- are embedded at once (src/worker/vectorizer-batches.ts). Rows written before have no tag, and are failed alike.
--
-- A row is read by the worker that serves every role's vectorizers: its values are capped at what the worker ever
-- writes (it embeds at once the rows of a batch that would be larger), so that no row makes the worker read more.
-- Rows over the caps were not written by the worker, and go.

ALTER TABLE _pg_llm_catalog.pg_llm_vectorizer_batches ADD COLUMN tag text;
DELETE FROM _pg_llm_catalog.pg_llm_vectorizer_batches
 WHERE octet_length(batch_id) > 256 OR octet_length(keys::text) > 8388608 OR octet_length(requests::text) > 67108864;
ALTER TABLE _pg_llm_catalog.pg_llm_vectorizer_batches ADD CONSTRAINT pg_llm_vectorizer_batches_sizes CHECK (
  octet_length(batch_id) <= 256 AND octet_length(tag) <= 64
  AND octet_length(keys::text) <= 8388608 AND octet_length(requests::text) <= 67108864);
