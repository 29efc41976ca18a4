-- is_admin() decides what every row-security policy lets through, so it must not resolve its operators through the
-- caller's search_path: a role could otherwise create an "=" that always holds, put its schema first, and pass as an
-- admin. Pinned to pg_catalog, its comparisons are PostgreSQL's own.

ALTER FUNCTION _pg_llm_catalog.is_admin() SET search_path = pg_catalog, pg_temp;
