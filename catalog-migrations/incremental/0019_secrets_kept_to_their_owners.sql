-- Secrets and the models that may see them, kept to their owners.

-- A model config's credential values showed their last four characters ('****abcd') in the config column, which
-- every role may read; they show '****' now, as new rows do (src/crypto/config-secrets.ts). The row's sealed secrets
-- are bound to the config as it was shown (src/catalog/secret-binding.ts), so that config is kept, in bound_config,
-- which no role reads but through sealed_model(), and only with the proof of holding the key that sealed them.

ALTER TABLE _pg_llm_catalog.pg_llm_models ADD COLUMN bound_config jsonb;
-- Registering a model again binds its secrets to the config it shows, and clears this (src/catalog/models.ts).
GRANT UPDATE (bound_config) ON _pg_llm_catalog.pg_llm_models TO PUBLIC;

-- The names an earlier version showed the last characters of (its SECRET_CONFIG_KEY), at the config's top level.
UPDATE _pg_llm_catalog.pg_llm_models m
   SET bound_config = m.config,
       config = (SELECT pg_catalog.jsonb_object_agg(e.key, CASE WHEN e.key ~* '(api_?key|token|secret|password|authorization|credential)'
                                                              THEN '"****"'::pg_catalog.jsonb ELSE e.value END)
                   FROM pg_catalog.jsonb_each(m.config) e)
 WHERE pg_catalog.jsonb_typeof(m.config) = 'object'
   AND EXISTS (SELECT FROM pg_catalog.jsonb_each(m.config) e
                WHERE e.key ~* '(api_?key|token|secret|password|authorization|credential)' AND e.value <> '"****"'::pg_catalog.jsonb);

DROP FUNCTION _pg_llm_catalog.sealed_model(text, bytea[]);

-- As in 0014_sealed_model_proof.sql, with the config the row's secrets are bound to when it is not the one shown.
CREATE FUNCTION _pg_llm_catalog.sealed_model(instance text, read_proofs bytea[])
RETURNS TABLE (database name, model_type text, local_model boolean, config jsonb, created_by name, proof_recorded boolean,
               encrypted_api_key bytea, encrypted_config bytea, bound_config jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT current_database(), m.model_type, m.local_model, m.config, m.created_by, m.read_proof_sha256 IS NOT NULL,
         CASE WHEN proven.shown AND substring(m.encrypted_api_key from 1 for 1) = decode('02', 'hex') THEN m.encrypted_api_key
              ELSE substring(m.encrypted_api_key from 1 for 1) END,
         CASE WHEN proven.shown AND substring(m.encrypted_config from 1 for 1) = decode('02', 'hex') THEN m.encrypted_config
              ELSE substring(m.encrypted_config from 1 for 1) END,
         CASE WHEN proven.shown THEN m.bound_config END
    FROM _pg_llm_catalog.pg_llm_models m
         CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM unnest(sealed_model.read_proofs) AS proof
                                             WHERE sha256(proof) = m.read_proof_sha256) AS shown) AS proven
   WHERE m.instance_name = sealed_model.instance
$$;

-- A knowledge document records the role that had registered the model instance it was embedded with: a search
-- embeds its query with that instance only while that role still owns it (functions/embedding.ts), as any role may
-- register a name that was removed, on a server of its own. Documents stored before have none; their instance is
-- then resolved as a name written for the caller (the caller's, the catalog owner's or an admin's).
ALTER TABLE _pg_llm_catalog.pg_llm_knowledge_documents ADD COLUMN embedding_owner name;
