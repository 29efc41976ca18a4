-- Role names starting with "pg_" are reserved, so the old default admin role could never exist: no admin role
-- unless the catalog's owner names one (INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', 'llm_admin')).
DELETE FROM _pg_llm_catalog.pg_llm_config WHERE name = 'admin_role' AND value = 'pg_llm_admin';
