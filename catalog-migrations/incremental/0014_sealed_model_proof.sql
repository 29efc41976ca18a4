-- Reading a model's sealed secrets now takes proof of holding the master key that sealed them. Until now any role
-- could read any bound blob through sealed_model(): it opens only with the master key and only in its own row, but
-- a blob (and the key id in its header) lets whoever holds it test guesses of a weak passphrase offline. The proof is
-- an HMAC of the row's name under that key (src/catalog/secret-binding.ts, readProof), which only the proxy can make;
-- the catalog keeps its SHA-256, readable by no role but the catalog's owner. Rows sealed before this migration get
-- theirs from the catalog upgrade that applies it, with the master key configured (src/catalog/sealed-blobs.ts).

ALTER TABLE _pg_llm_catalog.pg_llm_models ADD COLUMN read_proof_sha256 bytea;
-- Written with the sealed columns, by the row's owner (the policies keep every other role to its own rows); not
-- readable: a hash of a key-derived value is as good as the blob for testing guesses.
GRANT INSERT (read_proof_sha256), UPDATE (read_proof_sha256) ON _pg_llm_catalog.pg_llm_models TO PUBLIC;

DROP FUNCTION _pg_llm_catalog.sealed_model(text);

-- A model's row for the proxy calling it on behalf of any role (every role may use every model). SECURITY DEFINER,
-- as the catalog's owner, because the caller may not SELECT the sealed columns. A bound blob is handed out only to a
-- caller showing one of the proofs its row records; otherwise, as for an unbound blob, only its version byte is,
-- which is all the proxy needs to say why it cannot open it. proof_recorded tells a row sealed before proofs existed
-- (upgrade with the master key) from a caller without the right key. One named instance, no listing; inputs are
-- compared with pg_catalog's operators.
CREATE FUNCTION _pg_llm_catalog.sealed_model(instance text, read_proofs bytea[])
RETURNS TABLE (database name, model_type text, local_model boolean, config jsonb, created_by name, proof_recorded boolean,
               encrypted_api_key bytea, encrypted_config bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT current_database(), m.model_type, m.local_model, m.config, m.created_by, m.read_proof_sha256 IS NOT NULL,
         CASE WHEN proven.shown AND substring(m.encrypted_api_key from 1 for 1) = decode('02', 'hex') THEN m.encrypted_api_key
              ELSE substring(m.encrypted_api_key from 1 for 1) END,
         CASE WHEN proven.shown AND substring(m.encrypted_config from 1 for 1) = decode('02', 'hex') THEN m.encrypted_config
              ELSE substring(m.encrypted_config from 1 for 1) END
    FROM _pg_llm_catalog.pg_llm_models m
         CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM unnest(sealed_model.read_proofs) AS proof
                                             WHERE sha256(proof) = m.read_proof_sha256) AS shown) AS proven
   WHERE m.instance_name = sealed_model.instance
$$;
