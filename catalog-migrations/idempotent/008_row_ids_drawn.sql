-- A catalog row's id is drawn from its table's identity sequence, never chosen by the role inserting it. Every role
-- may insert rows of its own into the tables its calls write (audit, trace, sessions' messages, knowledge…; the
-- policies keep them to its own), and with INSERT on the identity column, OVERRIDING SYSTEM VALUE would let it give
-- a row an id the sequence is still to hand out: the insert that later draws that id (any role's call writing its
-- audit row) fails on the primary key, one call for every row so placed (review28). So what PUBLIC may insert into
-- such a table is every column but its identity one. Re-applied on every install, so that a column a later level
-- adds is insertable too.

DO $$
DECLARE
  insertable record;
BEGIN
  FOR insertable IN
    SELECT c.oid::pg_catalog.regclass AS relation,
           pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) AS columns
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
     WHERE n.nspname OPERATOR(pg_catalog.=) '_pg_llm_catalog' AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attidentity OPERATOR(pg_catalog.=) ''
       -- Tables with an identity column that PUBLIC may insert into, at the table's level or at any column's.
       AND EXISTS (SELECT FROM pg_catalog.pg_attribute i
                    WHERE i.attrelid OPERATOR(pg_catalog.=) c.oid AND i.attidentity OPERATOR(pg_catalog.<>) '' AND NOT i.attisdropped)
       AND EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) p
                    WHERE p.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid AND p.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
                   UNION ALL
                   SELECT FROM pg_catalog.pg_attribute col CROSS JOIN LATERAL pg_catalog.aclexplode(col.attacl) p
                    WHERE col.attrelid OPERATOR(pg_catalog.=) c.oid AND p.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                      AND p.privilege_type OPERATOR(pg_catalog.=) 'INSERT')
     GROUP BY c.oid
  LOOP
    -- Revoking the table's INSERT revokes its columns' too.
    EXECUTE pg_catalog.format('REVOKE INSERT ON %s FROM PUBLIC', insertable.relation);
    EXECUTE pg_catalog.format('GRANT INSERT (%s) ON %s TO PUBLIC', insertable.columns, insertable.relation);
  END LOOP;
END
$$;
