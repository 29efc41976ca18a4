-- Who may read and write model instances, now that sealed secrets are bound to their rows (src/catalog/
-- secret-binding.ts). Every role may still use every model, and only its registrant (or an admin) may replace or
-- remove it; but no role reads another's sealed columns, and a role writes only the columns pg_llm_add_model writes.

REVOKE ALL ON _pg_llm_catalog.pg_llm_models FROM PUBLIC;
GRANT SELECT (instance_name, model_type, local_model, api_key, config, created_by, created_at, updated_at)
    ON _pg_llm_catalog.pg_llm_models TO PUBLIC;
-- created_by is not insertable: its default, current_user, is the only value the policies accept anyway.
GRANT INSERT (instance_name, model_type, local_model, api_key, config, encrypted_api_key, encrypted_config)
    ON _pg_llm_catalog.pg_llm_models TO PUBLIC;
-- Replacing a model makes the replacing role its owner (the key is now its), hence UPDATE of created_by; the
-- policies hold a role that is not an admin to its own name, and a blob whose owner changed no longer opens.
-- instance_name is not updatable: a row keeps its name, as its blobs are bound to it.
GRANT UPDATE (model_type, local_model, api_key, config, encrypted_api_key, encrypted_config, created_by, updated_at)
    ON _pg_llm_catalog.pg_llm_models TO PUBLIC;
GRANT DELETE ON _pg_llm_catalog.pg_llm_models TO PUBLIC;

-- From now on every stored secret is bound (version 2, src/crypto/secrets.ts): an unbound one (version 1) opens
-- wherever it is copied, so no role writes one, the catalog's owner included. NOT VALID keeps those an earlier
-- version left, for the catalog upgrade to bind (below).
ALTER TABLE _pg_llm_catalog.pg_llm_models
    ADD CONSTRAINT encrypted_api_key_bound CHECK (substring(encrypted_api_key from 1 for 1) = decode('02', 'hex')) NOT VALID,
    ADD CONSTRAINT encrypted_config_bound CHECK (substring(encrypted_config from 1 for 1) = decode('02', 'hex')) NOT VALID;

-- The unbound blobs the catalog holds at this point, before any role can add one: the only blobs an upgrade may bind
-- (src/catalog/sealed-blobs.ts), each to the row and column it is in now. Until now any role could copy another's
-- blob, and a copy opens as well as the original: a blob stored more than once is marked copied, and none of its
-- copies is ever bound, even once the others are gone. Readable by the catalog's owner alone.
CREATE TABLE _pg_llm_catalog.pg_llm_unbound_secrets (
    instance_name text NOT NULL,
    column_name text NOT NULL,
    sha256 bytea NOT NULL,
    copied boolean NOT NULL,
    PRIMARY KEY (instance_name, column_name)
);
REVOKE ALL ON _pg_llm_catalog.pg_llm_unbound_secrets FROM PUBLIC;
INSERT INTO _pg_llm_catalog.pg_llm_unbound_secrets (instance_name, column_name, sha256, copied)
SELECT m.instance_name, sealed.column_name, sha256(sealed.blob), count(*) OVER (PARTITION BY sealed.blob) > 1
  FROM _pg_llm_catalog.pg_llm_models m,
       LATERAL (VALUES ('encrypted_api_key', m.encrypted_api_key), ('encrypted_config', m.encrypted_config)) AS sealed (column_name, blob)
 WHERE substring(sealed.blob from 1 for 1) = decode('01', 'hex');

-- A model's row, sealed columns included, for the proxy calling it on behalf of any role (every role may use every
-- model). SECURITY DEFINER, as the catalog's owner, because the caller may not SELECT those columns. It is safe to
-- hand a caller another role's bound blob here: it opens only with the master key, which never reaches the database,
-- and only for the row it was sealed for (database, instance, owner, type and config are its associated data), so
-- a role can do nothing with it but call this very model, which it may anyway. An unbound blob would open anywhere:
-- of one, only its version byte is handed out, which is all the proxy needs to refuse it. One named instance, no
-- listing; the only input is compared as text, with pg_catalog's operator.
CREATE FUNCTION _pg_llm_catalog.sealed_model(instance text)
RETURNS TABLE (database name, model_type text, local_model boolean, config jsonb, created_by name,
               encrypted_api_key bytea, encrypted_config bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT current_database(), m.model_type, m.local_model, m.config, m.created_by,
         CASE WHEN substring(m.encrypted_api_key from 1 for 1) = decode('02', 'hex') THEN m.encrypted_api_key
              ELSE substring(m.encrypted_api_key from 1 for 1) END,
         CASE WHEN substring(m.encrypted_config from 1 for 1) = decode('02', 'hex') THEN m.encrypted_config
              ELSE substring(m.encrypted_config from 1 for 1) END
    FROM _pg_llm_catalog.pg_llm_models m
   WHERE m.instance_name = sealed_model.instance
$$;

-- Who may register models: anyone, as with the extension, until the operator names a role in pg_llm_config
-- (INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('register_role', 'llm_registrars')); then only its members
-- and admins, so that no other role can take an instance name an application calls (its prompts would go to that
-- role's server). A named role that does not exist lets nobody but admins register. SECURITY INVOKER: it asks
-- about current_user, the writer. It raises rather than returns false, so a refusal says why.
CREATE FUNCTION _pg_llm_catalog.may_register() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  registrar text;
BEGIN
  SELECT c.value INTO registrar FROM _pg_llm_catalog.pg_llm_config c WHERE c.name = 'register_role';
  IF registrar IS NULL OR registrar = '' OR _pg_llm_catalog.is_admin()
     OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = registrar AND pg_has_role(current_user, r.oid, 'MEMBER')) THEN
    RETURN true;
  END IF;
  RAISE EXCEPTION USING ERRCODE = '42501',
    MESSAGE = format('role "%s" may not register or change model instances', current_user),
    HINT = format('pg_llm_config names "%s" as the register_role: only its members and admins may. Ask an administrator to GRANT it to you.', registrar);
END
$$;

DROP POLICY register_models ON _pg_llm_catalog.pg_llm_models;
CREATE POLICY register_models ON _pg_llm_catalog.pg_llm_models FOR INSERT
    WITH CHECK (created_by = current_user AND _pg_llm_catalog.may_register());
DROP POLICY change_own_models ON _pg_llm_catalog.pg_llm_models;
CREATE POLICY change_own_models ON _pg_llm_catalog.pg_llm_models FOR UPDATE
    USING (created_by = current_user OR _pg_llm_catalog.is_admin())
    WITH CHECK ((created_by = current_user AND _pg_llm_catalog.may_register()) OR _pg_llm_catalog.is_admin());
