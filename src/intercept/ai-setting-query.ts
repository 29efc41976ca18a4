// A pgai setting of the caller's session ($1, its name in lower case), or pg_llm.trusted_owners, and whether its value
// is the one the session starts with by its login role's or its database's defaults (ALTER ROLE/DATABASE … SET).
// PostgreSQL does not say who set a placeholder setting (pg_settings does not list them): a value equal to such a
// default was chosen by the role itself or whoever may alter its defaults or the database's, not by code of another
// role that the session ran (functions/pgai/endpoint.ts, src/sql/function-check.ts).

export const AI_SETTING_QUERY = `SELECT pg_catalog.current_setting($1, true) AS value,
  EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS c(entry)
          WHERE s.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0, (SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())]::pg_catalog.oid[])
            AND s.setrole OPERATOR(pg_catalog.=) ANY (ARRAY[0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) session_user)]::pg_catalog.oid[])
            AND pg_catalog.lower(pg_catalog.split_part(c.entry, '=', 1)) OPERATOR(pg_catalog.=) $1
            AND pg_catalog.substr(c.entry, pg_catalog.strpos(c.entry, '=') OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.=) pg_catalog.current_setting($1, true)) AS preset`;
