// Decides from the catalog, not from names, whether a statement can reach code with effects a rollback does not undo,
// or code these checks never see. Every function and operator the statement's names (src/sql/references.ts) can
// resolve to through the caller's search_path (every candidate, not just the one PostgreSQL will pick) is looked up.
// When the statement is refused so and a name of its own can resolve to another's function or operator, it is judged
// again by the functions and operators PostgreSQL's own analysis resolves it to (src/sql/resolved-calls.ts), where
// PostgreSQL can analyse it, so that another role's public.=(text, text) refuses only the statements that use it.
// With each comes what comes with it: every operator the operators the planner may put in its place (its negator and
// commutator); every type in play (named, taken or returned by a function run, a relation reached's row type and
// columns, read or written, and what each is made of) brings its domains' CHECKs, the casts between it and the
// other types in play, and a range type its canonical and subtype_diff functions; every function its default
// arguments; every relation reached its partitions and children, CHECK constraints, index, extended statistics and partition key expressions (which the
// planner evaluates in part even for a read), and a foreign table is refused (its wrapper reads another server, a file, a program); every
// relation read its views' queries and row-level security policies; every relation written its defaults (its columns'
// or their domains'), generated columns, rules, triggers, identity columns, and the tables foreign keys cascade to;
// every view written the relation it writes through (src/sql/view-writes.ts), written in turn.
// What runs in turn is deparsed by PostgreSQL and checked the same way (pg_depend would not do: it records no
// dependency on built-in objects). Functions are held to these rules:
//
// - VOLATILE functions are refused (PostgreSQL's own mark for "may have side effects"), except a few whose effects
//   end with the statement's rolled-back savepoint and that no other session sees: random(), gen_random_uuid(),
//   clock_timestamp(). Advisory locks (even transaction-level ones) and pg_sleep() are refused: another role reads
//   the locks in pg_locks while the statement sleeps, a covert channel for the caller's rows. So are the STABLE
//   txid_current() and pg_current_xact_id(), which give the transaction an id other sessions see;
// - a direct call of a type's input, output, send, receive or typmod function (decided from pg_type), or of one that
//   runs a type's input named by a value (pg_input_is_valid()), is refused: array_in('{1}', 'd'::regtype, -1) runs
//   the CHECKs of a domain the statement names only by a value, out of these checks' sight;
// - functions that run SQL given as text, or read a relation named by a value, are refused whatever their
//   volatility: query_to_xml(), table_to_xml(), ts_stat(), contrib's crosstab(), connectby() and xpath_table()…,
//   since the statement they run was never checked. Known by their code rather than their name, so that the same
//   code declared under another name (crosstab2(), or the crosstab wrappers tablefunc's documentation has users
//   declare) is refused too;
// - functions in procedural languages (plpgsql…) are refused, however they are marked: a STABLE plpgsql function
//   can still EXECUTE anything, and its body cannot be checked. Built-in and C functions are taken at their mark
//   (only a superuser can create them). SQL functions have their bodies checked in turn, resolved through the same
//   search_path (one with a SET clause of its own is refused); those of pg_catalog and information_schema, and
//   their views, are PostgreSQL's own and are not opened;
// - with allow_system_tables off, a built-in function returning records of its own making from no data of the
//   caller's (no argument of a pseudo, array, composite or document type) reads the server's own rows as a system
//   view does: pg_stat_get_activity(), pg_show_all_settings(), pg_config(), pg_cursor()… (every row source of
//   PostgreSQL's system views is one), so it is refused like a system catalog; and so is a built-in function that
//   reads the same state a value at a time (every pg_stat_* one, current_setting(), inet_client_addr(), version()…),
//   known by its code; except in what row-level security policies reach, which decides only which rows are seen;
// - identity columns a write would fill are refused: the sequence does not go back on rollback (serial columns'
//   nextval() defaults are refused as volatile). Only when the write runs: a write handed back to the caller has
//   the effects the caller asked for.
//
// Where the statement runs here, every function run, operator, relation reached and type in play must also belong to
// a role whose code the caller trusts: the caller's login role, a superuser, the catalog's owner, or a role the
// caller names in the setting pg_llm.trusted_owners (a list, as search_path is written), where the client set it
// itself (not a view's set_config: trustedOwners below). Whatever these checks find of another role's objects,
// that role may change them between the check and the run (CREATE OR REPLACE FUNCTION takes no lock; CREATE INDEX or
// CREATE STATISTICS on its table do not wait for a reader), so that code the check passed as a SQL function would run
// as plpgsql, with the caller's rights (review37). Nor may a role not trusted create in a schema of the caller's
// search_path: a function or operator it makes there after the check, a better match for one of the statement's names
// than PostgreSQL's own, would run in its place (review39); nor in a schema that the statement, or a SQL function's
// body kept as text, names: `bobs.peek(id)` finds nothing at the check and bob's plpgsql at the run; nor, where
// either schema does not exist yet (the caller's "$user"), in the database, where it could create that schema.
//
// One query per level of nesting (a view of a view, a function calling a function, a composite of domains), in the
// caller's session, so the caller's search_path resolves names.

import type { CallContext } from '../../functions/declaration.js';
import { AI_SETTING_QUERY } from '../intercept/ai-setting-query.js';
import { parseStatements } from './parse.js';
import { referencesOf, type References } from './references.js';
import { resolvedCalls } from './resolved-calls.js';
import { TRUSTED_OWNERS } from './server-names.js';
import { writtenThrough } from './view-writes.js';

/**
 * Functions that run a query given as text, or read a relation, schema or database named by a value, by their code:
 * a built-in function's symbol (pg_proc.prosrc), a C function's library and symbol (only a superuser declares
 * either). Of the modules PostgreSQL ships, tablefunc's and xml2's run SQL text and are STABLE; those that read a
 * relation named by a value (pgstattuple, pg_visibility, amcheck, pageinspect, pgrowlocks…) and dblink are all
 * VOLATILE, refused as such.
 */
const RUNS_SQL_TEXT = [
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema',
  'cursor_to_xml', 'cursor_to_xmlschema',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
  'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema',
  'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
  // ts_stat() and ts_rewrite(tsquery, text)
  'ts_stat1', 'ts_stat2', 'tsquery_rewrite_query',
  // crosstab(), crosstab2() to crosstab4(), connectby()
  'tablefunc:crosstab', 'tablefunc:crosstab_hash', 'tablefunc:connectby_text', 'tablefunc:connectby_text_serial',
  'pgxml:xpath_table',
];

/** pg_catalog's VOLATILE functions whose effects do not outlast the rolled-back savepoint the SQL runs in. */
const HARMLESS_VOLATILE = ['random', 'random_normal', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday'];

/** pg_catalog's STABLE functions that assign the transaction an id, which other sessions see and no rollback frees. */
const SEEN_BY_OTHER_SESSIONS = ['txid_current', 'pg_current_xact_id'];

/**
 * pg_catalog's functions that run the input code of a type given by a value. Most are some type's I/O function
 * (refused from pg_type as well); named too so that none slips through a catalog without domains or ranges.
 */
const RUNS_TYPE_CODE = [
  'domain_in', 'domain_recv', 'array_in', 'array_recv', 'record_in', 'record_recv', 'anyarray_in', 'anyarray_recv',
  'range_in', 'range_recv', 'multirange_in', 'multirange_recv', 'pg_input_is_valid', 'pg_input_error_info',
];

/**
 * Built-in functions that read the server's own state a value at a time, by their code (pg_proc.prosrc), besides
 * every pg_stat_* one (the statistics system: other sessions' queries, roles, addresses, waits; tables' and
 * databases' counters): the columns of the rows system views and the server's record functions give. The settings
 * (pg_settings), the client's and server's addresses (pg_stat_activity), the server's start and reload times, its
 * build (pg_config), the transaction ids other sessions hold (pg_locks), a tablespace's directory, a relation's
 * file (pg_class.relfilenode), the channels the session listens on (pg_listening_channels).
 */
const READS_SERVER_STATE = [
  'show_config_by_name', 'show_config_by_name_missing_ok', 'pg_settings_get_flags',
  'pg_backend_pid', 'inet_client_addr', 'inet_client_port', 'inet_server_addr', 'inet_server_port',
  'pg_postmaster_start_time', 'pg_conf_load_time', 'pgsql_version',
  'pg_current_snapshot', 'pg_tablespace_location', 'pg_tablespace_databases',
  'pg_relation_filepath', 'pg_relation_filenode', 'pg_filenode_relation', 'pg_listening_channels',
  // The search_path, and the session's temporary schema (pg_temp_N, its backend's slot), as current_setting() would.
  'current_schemas',
];

export type Refusal =
  | { reason: 'runs-sql-text' | 'volatile' | 'seen-elsewhere' | 'type-code' | 'settings' | 'identity' | 'system' | 'system-rows' | 'server-state' | 'foreign' | 'temporary'; name: string; via: string | null }
  | { reason: 'language'; name: string; via: string | null; language: string }
  | ({ reason: 'owner'; name: string; via: string | null; owner: string } & TrustLeftOut)
  /** A schema where `owner` may create (`missing`: the schema, which does not exist yet). */
  | ({ reason: 'path' | 'schema'; name: string; via: string | null; owner: string; missing: boolean } & TrustLeftOut);

/** A refusal for an owner not trusted, where pg_llm.trusted_owners had a value the client did not set (trustedOwners). */
interface TrustLeftOut {
  trustLeftOut?: boolean;
}

interface Row {
  /**
   * Or 'check': `text` (a view's query, a default, a rule, a SQL function's body…) is checked in turn; 'type': the
   * type whose oid is `name` is followed at the next level, consumed when `text` says so; 'in play': the type whose
   * oid is `name` stays in play at the levels below, for the casts between it and types found there; 'others': a
   * name looked up can resolve to a function or operator of others than PostgreSQL; 'written view': `text` is the
   * query of a view written, checked in turn with the relation it writes through, given the columns `name` holds
   * (JSON, or null when the write evaluates no default).
   */
  reason: Refusal['reason'] | 'check' | 'type' | 'in play' | 'others' | 'written view';
  name: string;
  via: string | null;
  language: string;
  /** The object whose text is to be checked, so that each is checked once. */
  key: string;
  text: string;
}

/**
 * The names a list (SQL, of a setting: search_path, pg_llm.trusted_owners) holds as PostgreSQL splits such a list
 * (SplitIdentifierString), as a FROM item whose rows are e.name: a quoted name as written ("" a quote), an unquoted
 * one up to a comma or a space, quotes and all, with only A-Z down-cased; each cut to 63 bytes; none from a quote
 * left open to the end (PostgreSQL refuses such a search_path; the rest of such a list names nobody). Matched by name, not
 * read with to_regrole, which raises on an unbalanced quote (in every checked statement of the session) and reads
 * '-' as no role at all, PUBLIC's oid in an ACL.
 */
function listedNames(list: string): string {
  return `pg_catalog.regexp_matches(coalesce(${list}, ''), '"(?:[^"]|"")*(?:"|$)|[^,[:space:]]+', 'g') AS m,
               LATERAL (SELECT (CASE WHEN m[1] OPERATOR(pg_catalog.~) '^"(?:[^"]|"")*"$' THEN pg_catalog.replace(pg_catalog.substr(m[1], 2, pg_catalog.length(m[1]) OPERATOR(pg_catalog.-) 2), '""', '"')
                                     WHEN NOT pg_catalog.starts_with(m[1], '"') THEN pg_catalog.translate(m[1], 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                                END)::pg_catalog.name::pg_catalog.text) AS e(name)`;
}

// Runs in the caller's session, under the caller's search_path: every operator, function, relation and type of its
// own is named with its schema (OPERATOR(pg_catalog.=)…), or another role's public.=(oid, regclass) would be an
// exact match where pg_catalog has none, and would run (and answer) in the check's place.
const REACHED = `
WITH RECURSIVE
  path AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(true))),
  trusted AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog', 'information_schema'])),
  -- Every session's temporary schema, where code made in the caller's name is judged apart when $13 asks it.
  temporary AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.~) '^pg_temp_[0-9]+$'),
  -- The roles whose objects the statement may reach (see the rules above; $12 is pg_llm.trusted_owners as the client set it).
  catalog_owner AS (SELECT nspowner AS oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) '_pg_llm_catalog'),
  -- The caller is its login role, not the role it acts as: another role's code that the session ran may have set
  -- that (set_config('role', …), and ALTER ROLE … SET role for the sessions after), to a role both are members of,
  -- whose objects it made (reviews R4, R5). Where the client sets a role itself, pg_llm.trusted_owners names it.
  trusted_owner AS (
    SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper OR rolname OPERATOR(pg_catalog.=) session_user
    UNION
    SELECT oid FROM catalog_owner
    UNION
    SELECT r.oid FROM pg_catalog.pg_roles r, ${listedNames('$12::pg_catalog.text')} WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) e.name),
  -- The schema a qualified name names: pg_temp is the session's own temporary schema (pg_temp_N in the catalog), and
  -- none at all (no candidates, as for PostgreSQL) in a session that has none yet.
  named AS (
    SELECT w.*, (SELECT oid FROM pg_catalog.pg_namespace
                  WHERE CASE WHEN w.schema OPERATOR(pg_catalog.=) 'pg_temp' THEN oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema() ELSE nspname OPERATOR(pg_catalog.=) w.schema END) AS namespace
      FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb) AS w(kind pg_catalog.text, schema pg_catalog.text, name pg_catalog.text, via pg_catalog.text, target pg_catalog.bool, given pg_catalog.jsonb, oid pg_catalog.oid, consumed pg_catalog.bool)),
  -- What a statement reaches besides the relations it names: their partitions and inheritance children (read or
  -- written with them), and for a write the tables foreign keys cascade to (SET DEFAULT evaluates their defaults).
  -- Where the rules ask ($13), whether a relation of a temporary schema stands in for another: one an unqualified
  -- name finds before a relation of that name elsewhere on the path, or one reached through another schema's (an
  -- inheritance child, whose rows are read with its parent's).
  reached AS (
    SELECT c.oid, w.via, w.target, w.given,
           $13 AND w.schema IS NULL AND c.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM temporary)
             AND EXISTS (SELECT FROM pg_catalog.pg_class o WHERE o.relname OPERATOR(pg_catalog.=) c.relname AND o.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM path)
                            AND o.relnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM temporary)) AS standing_in
      FROM named w JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(CASE WHEN w.schema IS NULL THEN pg_catalog.quote_ident(w.name) ELSE pg_catalog.format('%I.%I', w.schema, w.name) END)
     WHERE w.kind OPERATOR(pg_catalog.=) 'relation'
    UNION
    SELECT more.oid, r.via, more.target, more.given,
           $13 AND EXISTS (SELECT FROM pg_catalog.pg_class c, pg_catalog.pg_class p
                            WHERE c.oid OPERATOR(pg_catalog.=) more.oid AND c.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM temporary)
                              AND p.oid OPERATOR(pg_catalog.=) r.oid AND p.relnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM temporary))
      FROM reached r, LATERAL (
        SELECT inhrelid, r.target, r.given FROM pg_catalog.pg_inherits WHERE inhparent OPERATOR(pg_catalog.=) r.oid
        UNION ALL
        SELECT conrelid, true, CASE WHEN 'd' OPERATOR(pg_catalog.=) ANY (ARRAY[confdeltype, confupdtype]) THEN '[]'::pg_catalog.jsonb END
          FROM pg_catalog.pg_constraint
         WHERE r.target AND confrelid OPERATOR(pg_catalog.=) r.oid AND contype OPERATOR(pg_catalog.=) 'f' AND (confdeltype OPERATOR(pg_catalog.=) ANY (ARRAY['c', 'n', 'd']::pg_catalog."char"[]) OR confupdtype OPERATOR(pg_catalog.=) ANY (ARRAY['c', 'n', 'd']::pg_catalog."char"[]))
      ) AS more(oid, target, given)),
  relation AS (
    SELECT r.*, c.relname, c.relkind, c.relnamespace, c.relrowsecurity, c.relowner, c.reltype FROM reached r JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.oid),
  -- The operators a name can resolve to, or the one PostgreSQL resolved.
  operator AS (
    SELECT o.oid, w.via, o.oprnamespace
      FROM named w JOIN pg_catalog.pg_operator o ON o.oprname OPERATOR(pg_catalog.=) w.name
     WHERE w.kind OPERATOR(pg_catalog.=) 'operator'
       AND CASE WHEN w.schema IS NULL THEN o.oprnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM path) ELSE o.oprnamespace OPERATOR(pg_catalog.=) w.namespace END
    UNION ALL
    SELECT w.oid, w.via, NULL FROM named w WHERE w.kind OPERATOR(pg_catalog.=) 'resolved operator'),
  -- The operators reached, and those the planner may run in their place: an operator's negator (NOT (a < b) becomes
  -- a >= b), or its commutator (b > a becomes a < b to match an index or a join), or the one of those of the other:
  -- a fixed set of links, since the planner applies each rewrite once, not a closure. A link to an operator of pg_catalog leads to a built-in
  -- function (only a superuser creates operators there), so only links to others' are followed, which keeps the
  -- functions to judge for a statement's = or < to those of its own candidates. Their restriction and join
  -- estimators run too, but take arguments of type internal, which only C functions (a superuser's) can.
  linked_operator AS (
    SELECT l.oid, l.oprcode, l.oprname, l.oprnamespace, l.oprowner,
           CASE WHEN l.oid OPERATOR(pg_catalog.=) o.oid THEN w.via ELSE pg_catalog.concat_ws(', ', w.via, pg_catalog.format('the %s of %s.%s', link.name, o.oprnamespace::pg_catalog.regnamespace, o.oprname)) END AS owner_via,
           coalesce(w.via, pg_catalog.format('operator %s.%s', l.oprnamespace::pg_catalog.regnamespace, l.oprname)
                                      OPERATOR(pg_catalog.||) CASE WHEN l.oid OPERATOR(pg_catalog.<>) o.oid THEN pg_catalog.format(', the %s of %s.%s', link.name, o.oprnamespace::pg_catalog.regnamespace, o.oprname) ELSE '' END) AS via
      FROM operator w JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) w.oid
           LEFT JOIN pg_catalog.pg_operator negator ON negator.oid OPERATOR(pg_catalog.=) o.oprnegate
           LEFT JOIN pg_catalog.pg_operator commutator ON commutator.oid OPERATOR(pg_catalog.=) o.oprcom,
           ROWS FROM (pg_catalog.unnest(ARRAY[o.oid, o.oprnegate, o.oprcom, negator.oprcom, commutator.oprnegate]),
                      pg_catalog.unnest(ARRAY['', 'negator', 'commutator', 'commutator of the negator', 'negator of the commutator'])) AS link(oid, name)
      JOIN pg_catalog.pg_operator l ON l.oid OPERATOR(pg_catalog.=) link.oid
     WHERE (l.oid OPERATOR(pg_catalog.=) o.oid OR l.oprnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted))),
  -- The functions a name can resolve to.
  candidate_function AS (
    SELECT p.oid, p.pronamespace, w.via
      FROM named w JOIN pg_catalog.pg_proc p ON p.proname OPERATOR(pg_catalog.=) w.name
     WHERE w.kind OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'attribute'])
       AND CASE WHEN w.schema IS NULL THEN p.pronamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM path) ELSE p.pronamespace OPERATOR(pg_catalog.=) w.namespace END
       AND (w.kind OPERATOR(pg_catalog.=) 'function' OR (p.pronargs OPERATOR(pg_catalog.>=) 1 AND p.pronargs OPERATOR(pg_catalog.-) p.pronargdefaults OPERATOR(pg_catalog.<=) 1 AND p.proargtypes[0] OPERATOR(pg_catalog.<>) 'internal'::pg_catalog.regtype))),
  called AS (
    SELECT oid, via FROM candidate_function
    UNION
    SELECT w.oid, w.via FROM named w WHERE w.kind OPERATOR(pg_catalog.=) 'resolved function'
    UNION
    SELECT w.oid, coalesce(w.via, pg_catalog.format('a cast from %s to %s', p.proargtypes[0]::pg_catalog.regtype, p.prorettype::pg_catalog.regtype))
      FROM named w JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) w.oid
     WHERE w.kind OPERATOR(pg_catalog.=) 'resolved cast'
    UNION
    SELECT oprcode, via FROM linked_operator WHERE oprcode OPERATOR(pg_catalog.<>) 0
    UNION
    SELECT g.tgfoid, coalesce(r.via, pg_catalog.format('trigger %I on %s', g.tgname, r.oid::pg_catalog.regclass))
      FROM relation r JOIN pg_catalog.pg_trigger g ON g.tgrelid OPERATOR(pg_catalog.=) r.oid
     WHERE r.target AND NOT g.tgisinternal AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'),
  run AS (
    SELECT oid, via FROM called
    UNION
    SELECT f.oid, c.via
      FROM called c JOIN pg_catalog.pg_aggregate a ON a.aggfnoid OPERATOR(pg_catalog.=) c.oid,
           pg_catalog.unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::pg_catalog.oid[]) AS f(oid)
     WHERE f.oid OPERATOR(pg_catalog.<>) 0),
  -- The types in play beyond the built-in ones (which any statement can produce): those named, taken or returned
  -- by the functions run, the row types and columns of the relations reached, and those the last level found a type
  -- made of. Consumed ones (a value is coerced to them) bring their domains' CHECKs. A relation's are consumed even
  -- where it is only read: a statement builds values of them without naming them, jsonb_populate_record(t, '{…}')
  -- or coalesce(t, '(2)') of its row type, ARRAY[c] || '{2}' of a column's domain; and a cast from its row type
  -- (t::text, or an implicit one) runs the cast's function.
  typed AS (
    SELECT s.oid, pg_catalog.bool_or(s.consumed) AS consumed, pg_catalog.min(s.via) AS via
      FROM (
        SELECT pg_catalog.to_regtype(CASE WHEN w.schema IS NULL THEN pg_catalog.quote_ident(w.name) ELSE pg_catalog.format('%I.%I', w.schema, w.name) END)::pg_catalog.oid, true, w.via
          FROM named w WHERE w.kind OPERATOR(pg_catalog.=) 'type'
        UNION ALL
        SELECT w.oid, w.consumed, w.via FROM named w WHERE w.kind OPERATOR(pg_catalog.=) 'part'
        UNION ALL
        SELECT a.oid, true, r.via
          FROM run r JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) r.oid, pg_catalog.unnest(p.prorettype OPERATOR(pg_catalog.||) p.proargtypes::pg_catalog.oid[] OPERATOR(pg_catalog.||) coalesce(p.proallargtypes, '{}')) AS a(oid)
         WHERE p.pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
        UNION ALL
        SELECT a.atttypid, true, r.via
          FROM relation r JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
         WHERE r.relnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
        UNION ALL
        SELECT r.reltype, true, r.via FROM relation r WHERE r.reltype OPERATOR(pg_catalog.<>) 0
      ) AS s(oid, consumed, via) JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) s.oid
     WHERE y.typnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
     GROUP BY s.oid),
  in_play AS (SELECT oid FROM typed UNION SELECT pg_catalog.unnest($6::pg_catalog.oid[])),
  -- What each is made of, for the next level: a domain's base, an array's elements (and an element its array), a
  -- composite's fields, a range's subtype, a multirange's range.
  part AS (
    SELECT DISTINCT part.oid, t.consumed, t.via
      FROM typed t JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) t.oid,
           pg_catalog.unnest(ARRAY[y.typbasetype, y.typelem, y.typarray]
                  OPERATOR(pg_catalog.||) ARRAY(SELECT atttypid FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) y.typrelid AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped)
                  OPERATOR(pg_catalog.||) ARRAY(SELECT rngsubtype FROM pg_catalog.pg_range WHERE rngtypid OPERATOR(pg_catalog.=) y.oid)
                  OPERATOR(pg_catalog.||) ARRAY(SELECT rngtypid FROM pg_catalog.pg_range WHERE rngmultitypid OPERATOR(pg_catalog.=) y.oid)) AS part(oid)
      JOIN pg_catalog.pg_type py ON py.oid OPERATOR(pg_catalog.=) part.oid
     WHERE py.typnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)),
  -- A cast between two types in play may apply, implicit and assignment casts without a word in the statement.
  -- Only casts with functions of others than PostgreSQL itself matter.
  cast_of_others AS (
    SELECT k.castfunc, k.castsource, k.casttarget, s.typnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM trusted) AS from_builtin,
           t.typnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM trusted) AS to_builtin
      FROM pg_catalog.pg_cast k JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) k.castfunc JOIN pg_catalog.pg_type s ON s.oid OPERATOR(pg_catalog.=) k.castsource JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) k.casttarget
     WHERE f.pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)),
  converted AS (
    SELECT k.castfunc AS oid, coalesce((SELECT pg_catalog.min(via) FROM typed WHERE oid OPERATOR(pg_catalog.=) ANY (ARRAY[k.casttarget, k.castsource])),
                                       pg_catalog.format('a cast from %s to %s', k.castsource::pg_catalog.regtype, k.casttarget::pg_catalog.regtype)) AS via
      FROM cast_of_others k
     WHERE (k.from_builtin OR k.castsource OPERATOR(pg_catalog.=) ANY (SELECT oid FROM in_play)) AND (k.to_builtin OR k.casttarget OPERATOR(pg_catalog.=) ANY (SELECT oid FROM in_play))
    UNION
    SELECT y.typinput, coalesce(t.via, 'a cast to ' OPERATOR(pg_catalog.||) y.oid::pg_catalog.regtype::pg_catalog.text)
      FROM typed t JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) t.oid
     WHERE t.consumed
    UNION
    -- A range type's functions: the planner's estimates of range conditions call subtype_diff, and so do GiST
    -- indexes; canonical runs on every range made.
    SELECT f.oid, coalesce(t.via, 'the range type ' OPERATOR(pg_catalog.||) g.rngtypid::pg_catalog.regtype::pg_catalog.text)
      FROM typed t JOIN pg_catalog.pg_range g ON g.rngtypid OPERATOR(pg_catalog.=) t.oid, pg_catalog.unnest(ARRAY[g.rngcanonical, g.rngsubdiff]::pg_catalog.oid[]) AS f(oid)
     WHERE f.oid OPERATOR(pg_catalog.<>) 0),
  -- Materialized, so that the rules below are applied to the functions reached, not to all of pg_proc.
  reached_function AS MATERIALIZED (
    SELECT r.via, p.oid, p.proname, p.pronamespace, p.proowner, p.provolatile, p.proconfig, p.prosecdef, p.prorettype, p.proargtypes, p.prosqlbody, p.prosrc,
           l.lanname, t.typrelid,
           -- Its code: the symbol, after the name of a C function's library ($libdir/tablefunc, tablefunc.so…).
           pg_catalog.concat_ws(':', pg_catalog.regexp_replace(p.probin, '^.*/|\\.[^/]*$', '', 'g'), p.prosrc) AS code
      FROM (SELECT * FROM run UNION SELECT * FROM converted) r
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) r.oid JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) p.prorettype),
  judged AS (
    SELECT p.via, p.oid, pg_catalog.format('%s.%s', p.pronamespace::pg_catalog.regnamespace, p.proname) AS name, p.lanname AS language,
           CASE
             -- A stub of the proxy's (src/catalog/stubs.ts), where the rules allow them: it only records its call.
             WHEN p.lanname OPERATOR(pg_catalog.=) 'plpgsql' AND p.proconfig IS NULL AND NOT p.prosecdef AND p.prosrc OPERATOR(pg_catalog.=) ANY ($9::pg_catalog.text[]) THEN NULL
             WHEN p.lanname OPERATOR(pg_catalog.=) ANY (ARRAY['internal', 'c']) AND p.code OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[]) THEN 'runs-sql-text'
             WHEN p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.proname OPERATOR(pg_catalog.=) ANY ($7::pg_catalog.text[]) THEN 'seen-elsewhere'
             WHEN p.provolatile OPERATOR(pg_catalog.=) 'v' AND NOT (p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.proname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])) THEN 'volatile'
             WHEN p.lanname OPERATOR(pg_catalog.<>) ALL (ARRAY['internal', 'c', 'sql']) THEN 'language'
             -- The catalog's own SQL functions (pgai's config builders: stubs.ts) pin pg_catalog and pg_temp, where no
             -- other role creates, and qualify every other name they use.
             WHEN p.lanname OPERATOR(pg_catalog.=) 'sql' AND p.proconfig IS NOT NULL
                  AND NOT (p.proowner OPERATOR(pg_catalog.=) (SELECT oid FROM catalog_owner)
                           AND p.proconfig OPERATOR(pg_catalog.=) ARRAY['search_path=pg_catalog, pg_temp']::pg_catalog.text[]) THEN 'settings'
             WHEN $5 AND p.typrelid OPERATOR(pg_catalog.<>) 0 AND (SELECT relnamespace::pg_catalog.regnamespace::pg_catalog.text FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) p.typrelid) OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.text[]) THEN 'system-rows'
             -- The server's own rows (settings, sessions, locks, files, statistics…): a built-in function that
             -- returns records of its own making from no data of the caller's.
             WHEN $5 AND p.prorettype OPERATOR(pg_catalog.=) 'record'::pg_catalog.regtype AND p.pronamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM trusted) AND NOT EXISTS (
                    SELECT FROM pg_catalog.unnest(p.proargtypes) AS a(oid) JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) a.oid
                     WHERE y.typtype OPERATOR(pg_catalog.=) ANY (ARRAY['p', 'c']::pg_catalog."char"[]) OR y.typcategory OPERATOR(pg_catalog.=) ANY (ARRAY['A', 'U']::pg_catalog."char"[])) THEN 'system-rows'
             WHEN $5 AND p.lanname OPERATOR(pg_catalog.=) ANY (ARRAY['internal', 'c']) AND (pg_catalog.starts_with(p.prosrc, 'pg_stat_') OR p.prosrc OPERATOR(pg_catalog.=) ANY ($10::pg_catalog.text[])) THEN 'server-state'
             WHEN p.lanname OPERATOR(pg_catalog.=) 'sql' AND p.pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted) THEN 'check'
           END AS reason,
           CASE WHEN p.prosqlbody IS NOT NULL THEN pg_catalog.pg_get_functiondef(p.oid) ELSE p.prosrc END AS body, p.prosqlbody IS NULL AS text_body,
           p.lanname OPERATOR(pg_catalog.=) 'sql' AND p.pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted) AS sql_body
      FROM reached_function p)
SELECT reason, name, coalesce(via, CASE WHEN reason OPERATOR(pg_catalog.=) 'check' THEN 'function ' OPERATOR(pg_catalog.||) name END) AS via, language,
       CASE WHEN text_body THEN 'function text ' ELSE 'function ' END OPERATOR(pg_catalog.||) oid AS key,
       CASE WHEN reason OPERATOR(pg_catalog.=) 'check' THEN body END AS text
  FROM judged WHERE reason IS NOT NULL
UNION ALL
-- A SQL function refused above has its body checked all the same, for rules that pass over that refusal (refusing).
SELECT 'check', name, coalesce(via, 'function ' OPERATOR(pg_catalog.||) name), language,
       CASE WHEN text_body THEN 'function text ' ELSE 'function ' END OPERATOR(pg_catalog.||) oid, body
  FROM judged WHERE sql_body AND reason OPERATOR(pg_catalog.<>) 'check'
UNION ALL
-- Not those of the catalog's own stubs the statement calls (src/catalog/stubs.ts), constants of built-in types.
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('the defaults of %s.%s', p.pronamespace::pg_catalog.regnamespace, p.proname)), NULL, 'defaults ' OPERATOR(pg_catalog.||) p.oid,
       'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(p.proargdefaults, 0)
  FROM run r JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) r.oid
 WHERE p.pronargdefaults OPERATOR(pg_catalog.>) 0 AND p.pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
   AND NOT (p.proowner OPERATOR(pg_catalog.=) ANY (SELECT oid FROM catalog_owner) AND p.prosrc OPERATOR(pg_catalog.=) ANY ($9::pg_catalog.text[]))
UNION ALL
-- Only the functions the statement (or a body checked in turn) calls: a type's input function also runs for a cast
-- to it, where the type is named and followed.
SELECT 'type-code', pg_catalog.format('%s.%s', p.pronamespace::pg_catalog.regnamespace, p.proname), r.via, NULL, NULL, NULL
  FROM run r JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) r.oid
 WHERE (p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace AND p.proname OPERATOR(pg_catalog.=) ANY ($8::pg_catalog.text[]))
    OR p.oid OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.unnest(ARRAY[typinput, typoutput, typreceive, typsend, typmodin, typmodout, typanalyze]::pg_catalog.oid[]) FROM pg_catalog.pg_type)
UNION ALL
SELECT 'system', pg_catalog.format('%s.%I', relnamespace::pg_catalog.regnamespace, relname), via, NULL, NULL, NULL
  FROM relation WHERE $5 AND relnamespace::pg_catalog.regnamespace::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.text[])
UNION ALL
SELECT CASE WHEN target THEN 'written view' ELSE 'check' END, CASE WHEN target THEN given::pg_catalog.text END,
       coalesce(via, 'view ' OPERATOR(pg_catalog.||) oid::pg_catalog.regclass::pg_catalog.text), NULL,
       'view ' OPERATOR(pg_catalog.||) oid OPERATOR(pg_catalog.||) CASE WHEN target THEN pg_catalog.format(' written, given %s', given) ELSE '' END, pg_catalog.pg_get_viewdef(oid)
  FROM relation WHERE relkind OPERATOR(pg_catalog.=) 'v' AND relnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
UNION ALL
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('policy %I on %s', o.polname, r.oid::pg_catalog.regclass)), NULL, 'policy ' OPERATOR(pg_catalog.||) o.oid,
       'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.concat_ws(', ', pg_catalog.pg_get_expr(o.polqual, o.polrelid), pg_catalog.pg_get_expr(o.polwithcheck, o.polrelid))
  FROM relation r JOIN pg_catalog.pg_policy o ON o.polrelid OPERATOR(pg_catalog.=) r.oid
 WHERE r.relrowsecurity
UNION ALL
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('the default of %s.%I', r.oid::pg_catalog.regclass, a.attname)), NULL, 'default ' OPERATOR(pg_catalog.||) d.oid, 'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(d.adbin, d.adrelid)
  FROM relation r JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) r.oid JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.oid AND a.attnum OPERATOR(pg_catalog.=) d.adnum
 WHERE r.target AND (a.attgenerated OPERATOR(pg_catalog.<>) '' OR (r.given IS NOT NULL AND NOT r.given OPERATOR(pg_catalog.?) a.attname))
UNION ALL
-- A column with no default of its own takes its domain's.
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('the default of %s.%I', r.oid::pg_catalog.regclass, a.attname)), NULL, 'type default ' OPERATOR(pg_catalog.||) y.oid, 'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(y.typdefaultbin, 0)
  FROM relation r JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND NOT a.atthasdef JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) a.atttypid
 WHERE r.target AND r.given IS NOT NULL AND NOT r.given OPERATOR(pg_catalog.?) a.attname AND y.typdefaultbin IS NOT NULL
UNION ALL
-- Not only when written: the planner folds the constant parts of CHECK constraints (to rule out children and
-- members of a UNION ALL), and of index and partition key expressions (loaded for any query of their table),
-- running their IMMUTABLE functions on a read as well.
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('the constraint %I on %s', k.conname, r.oid::pg_catalog.regclass)), NULL, 'constraint ' OPERATOR(pg_catalog.||) k.oid, 'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(k.conbin, k.conrelid)
  FROM relation r JOIN pg_catalog.pg_constraint k ON k.conrelid OPERATOR(pg_catalog.=) r.oid
 WHERE k.contype OPERATOR(pg_catalog.=) 'c'
UNION ALL
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('index %s', i.indexrelid::pg_catalog.regclass)), NULL, 'index ' OPERATOR(pg_catalog.||) i.indexrelid, pg_catalog.pg_get_indexdef(i.indexrelid)
  FROM relation r JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) r.oid
 WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL
UNION ALL
-- The planner folds the constant parts of extended statistics expressions as well, for any query of their table.
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('statistics %s.%I', s.stxnamespace::pg_catalog.regnamespace, s.stxname)), NULL, 'statistics ' OPERATOR(pg_catalog.||) s.oid,
       pg_catalog.pg_get_statisticsobjdef(s.oid)
  FROM relation r JOIN pg_catalog.pg_statistic_ext s ON s.stxrelid OPERATOR(pg_catalog.=) r.oid
 WHERE s.stxexprs IS NOT NULL
UNION ALL
-- A partition's rows are checked against the partition keys of its ancestors, a partitioned table's routed by its own.
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('the partition key of %s', k.partrelid::pg_catalog.regclass)), NULL, 'partition key ' OPERATOR(pg_catalog.||) k.partrelid,
       'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(k.partexprs, k.partrelid)
  FROM relation r, pg_catalog.pg_partition_ancestors(r.oid) AS a(oid) JOIN pg_catalog.pg_partitioned_table k ON k.partrelid OPERATOR(pg_catalog.=) a.oid
 WHERE k.partexprs IS NOT NULL
UNION ALL
SELECT 'foreign', oid::pg_catalog.regclass::pg_catalog.text, via, NULL, NULL, NULL
  FROM relation WHERE relkind OPERATOR(pg_catalog.=) 'f'
UNION ALL
SELECT 'check', NULL, coalesce(r.via, pg_catalog.format('rule %I on %s', w.rulename, r.oid::pg_catalog.regclass)), NULL, 'rule ' OPERATOR(pg_catalog.||) w.oid, pg_catalog.pg_get_ruledef(w.oid)
  FROM relation r JOIN pg_catalog.pg_rewrite w ON w.ev_class OPERATOR(pg_catalog.=) r.oid
 WHERE r.target AND w.ev_type OPERATOR(pg_catalog.<>) '1'
UNION ALL
SELECT 'check', NULL, coalesce(t.via, 'a cast to ' OPERATOR(pg_catalog.||) y.oid::pg_catalog.regtype::pg_catalog.text), NULL, 'constraint ' OPERATOR(pg_catalog.||) k.oid, 'SELECT ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(k.conbin, 0)
  FROM typed t JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) t.oid JOIN pg_catalog.pg_constraint k ON k.contypid OPERATOR(pg_catalog.=) y.oid
 WHERE t.consumed AND k.contype OPERATOR(pg_catalog.=) 'c' AND y.typnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted)
UNION ALL
SELECT 'type', oid::pg_catalog.text, via, NULL, pg_catalog.format('type %s %s', oid, consumed), CASE WHEN consumed THEN 'consumed' END
  FROM part
UNION ALL
SELECT 'in play', oid::pg_catalog.text, NULL, NULL, NULL, NULL
  FROM typed
UNION ALL
-- A name that can resolve to a function or operator of others than PostgreSQL (only a superuser adds to pg_catalog).
SELECT 'others', NULL, NULL, NULL, NULL, NULL
 WHERE EXISTS (SELECT FROM candidate_function WHERE pronamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted))
    OR EXISTS (SELECT FROM operator WHERE oprnamespace OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted))
UNION ALL
SELECT 'identity', pg_catalog.format('%s.%I', r.oid::pg_catalog.regclass, a.attname), r.via, NULL, NULL, NULL
  FROM relation r JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.oid
 WHERE r.target AND r.given IS NOT NULL AND a.attidentity OPERATOR(pg_catalog.<>) '' AND NOT a.attisdropped AND NOT r.given OPERATOR(pg_catalog.?) a.attname
UNION ALL
-- Code in a temporary schema, where the rules ask ($13): a temporary view or function, a domain, a temporary table
-- standing in for another (above), with policies or CHECKs, or written to with triggers, rules or defaults (a serial
-- column's nextval() aside). Any function the session ran, another role's SECURITY INVOKER one included, could have
-- made it in the session, in the caller's name or a role's it may set (set_config('role', …)), and an unqualified
-- name finds it before the caller's own table.
SELECT 'temporary', pg_catalog.format('function %s.%s()', p.pronamespace::pg_catalog.regnamespace, p.proname), p.via, NULL, NULL, NULL
  FROM reached_function p WHERE $13 AND p.pronamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM temporary)
UNION ALL
SELECT 'temporary', pg_catalog.format('%s %s.%I', CASE WHEN r.relkind OPERATOR(pg_catalog.=) 'v' THEN 'view' ELSE 'table' END, r.relnamespace::pg_catalog.regnamespace, r.relname), r.via, NULL, NULL, NULL
  FROM relation r
 WHERE $13 AND r.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM temporary)
   AND (r.standing_in OR r.relkind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p', 'S']::pg_catalog."char"[]) OR r.relrowsecurity
        OR EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conrelid OPERATOR(pg_catalog.=) r.oid AND k.contype OPERATOR(pg_catalog.=) 'c')
        OR (r.target AND (EXISTS (SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) r.oid AND NOT g.tgisinternal)
                          OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) r.oid)
                          OR EXISTS (SELECT FROM pg_catalog.pg_attrdef d WHERE d.adrelid OPERATOR(pg_catalog.=) r.oid
                                        AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) OPERATOR(pg_catalog.!~) '^nextval[(]''([^'']|'''')*''::regclass[)]$'))))
UNION ALL
SELECT 'temporary', 'type ' OPERATOR(pg_catalog.||) y.oid::pg_catalog.regtype::pg_catalog.text, t.via, NULL, NULL, NULL
  FROM typed t JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) t.oid
 WHERE $13 AND y.typtype OPERATOR(pg_catalog.=) 'd'
   AND y.typnamespace OPERATOR(pg_catalog.=) ANY (SELECT oid FROM temporary)
UNION ALL
-- Last, so that a rule above names what an object does where it also has an owner not trusted; only for a statement
-- run here ($11). The owner's name goes in the language column.
SELECT 'owner', pg_catalog.format('function %s.%s()', p.pronamespace::pg_catalog.regnamespace, p.proname), p.via, p.proowner::pg_catalog.regrole::pg_catalog.text, NULL, NULL
  FROM reached_function p WHERE p.proowner OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted_owner) AND $11
UNION ALL
SELECT 'owner', pg_catalog.format('%s %s', CASE WHEN relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::pg_catalog."char"[]) THEN 'view' ELSE 'table' END, oid::pg_catalog.regclass),
       via, relowner::pg_catalog.regrole::pg_catalog.text, NULL, NULL
  FROM relation WHERE relowner OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted_owner) AND $11
UNION ALL
-- An operator's function may be PostgreSQL's, but its owner may drop it and create another of the same name and
-- types, of its own code, before the statement runs (no lock keeps it).
SELECT 'owner', pg_catalog.format('operator %s.%s', oprnamespace::pg_catalog.regnamespace, oprname), owner_via, oprowner::pg_catalog.regrole::pg_catalog.text, NULL, NULL
  FROM linked_operator WHERE oprowner OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted_owner) AND $11
UNION ALL
SELECT 'owner', 'type ' OPERATOR(pg_catalog.||) y.oid::pg_catalog.regtype::pg_catalog.text, t.via, y.typowner::pg_catalog.regrole::pg_catalog.text, NULL, NULL
  FROM typed t JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) t.oid
 WHERE y.typowner OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted_owner) AND $11
UNION ALL
-- A schema where a name of SQL that PostgreSQL parses only as it runs (the statement's own, a SQL function's body
-- kept as text; not a view's or a policy's stored tree) may resolve, and where a role not trusted may create: a
-- function, operator, type or relation made there after this check, a better match for that name than what the
-- check saw (or the only one), would run in its place. These are the schemas of the caller's search_path ('path') and
-- those such a name names ('schema'), and those of either that do not exist yet (the caller's "$user", say), which a
-- role that may create schemas in the database may create (with its objects) after this check; 'missing' then goes
-- in the text column. Another session's temporary schema (pg_temp_N, a superuser's in the catalog) is its session's
-- role's to create in, and any role with TEMPORARY on the database may be that role, whether the schema exists yet or
-- not. pg_database_owner (public's owner since PostgreSQL 15) stands for the database's owner.
SELECT CASE WHEN s.named THEN 'schema' ELSE 'path' END, s.name, s.via, CASE WHEN w.oid OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE w.oid::pg_catalog.regrole::pg_catalog.text END,
       NULL, CASE WHEN n.oid IS NULL THEN 'missing' END
  FROM (SELECT oid, nspname::pg_catalog.text, NULL::pg_catalog.text, false FROM pg_catalog.pg_namespace WHERE oid OPERATOR(pg_catalog.=) ANY (SELECT oid FROM path)
        UNION
        -- The entries of search_path as PostgreSQL splits them (listedNames), "$user" the current role's name.
        SELECT NULL, CASE WHEN e.name OPERATOR(pg_catalog.=) '$user' THEN current_user::pg_catalog.text ELSE e.name END, NULL, false
          FROM ${listedNames("pg_catalog.current_setting('search_path', true)")}
        UNION
        SELECT namespace, schema, via, true FROM named WHERE kind OPERATOR(pg_catalog.=) 'schema') AS s(oid, name, via, named)
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.oid OR (s.oid IS NULL AND n.nspname OPERATOR(pg_catalog.=) s.name),
  LATERAL (
         SELECT CASE WHEN g.oid OPERATOR(pg_catalog.=) pg_catalog.to_regrole('pg_database_owner') THEN d.datdba ELSE g.oid END
           FROM pg_catalog.pg_database d, (SELECT n.nspowner WHERE n.oid IS NOT NULL
                 UNION ALL
                 SELECT a.grantee FROM pg_catalog.aclexplode(n.nspacl) AS a WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                 UNION ALL
                 SELECT a.grantee FROM pg_catalog.pg_database, pg_catalog.aclexplode(coalesce(datacl, pg_catalog.acldefault('d', datdba))) AS a
                  WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
                    AND ((n.oid IS NULL AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE')
                         OR (s.name OPERATOR(pg_catalog.~) '^pg_temp_[0-9]+$' AND a.privilege_type OPERATOR(pg_catalog.=) 'TEMPORARY'))) AS g(oid)
          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) AS w(oid)
 WHERE $11 AND w.oid OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted_owner) AND s.name OPERATOR(pg_catalog.<>) 'pg_temp'
   AND (n.oid IS NULL OR (n.oid OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM trusted) AND n.oid OPERATOR(pg_catalog.<>) pg_catalog.pg_my_temp_schema()))`;

export interface ReachRules {
  /** Schemas whose relations the statement may not reach, through a view or a function body either. */
  systemSchemas?: string[] | undefined;
  /**
   * The statement runs here (rolled back): the defaults, identity columns and triggers its writes fire count, and so
   * do the owners of what it reaches, who could change it before it runs. SQL handed back runs as its caller decides.
   */
  runs: boolean;
  /**
   * The bodies of the proxy's stubs the statement may call (src/catalog/stubs.ts): it runs as a collect pass, where
   * a stub only records its call.
   */
  stubs?: string[];
  /**
   * Code of the caller's own in a temporary schema is refused ('temporary'): the caller's session may have run other
   * roles' code that made it (see REACHED).
   */
  temporaryCode?: boolean;
  /**
   * The reasons that refuse the statement; the others are passed over, and what they reach followed all the same
   * (every reason when absent). A function whose body cannot be checked is then taken at its owner's word.
   */
  refusing?: ReadonlySet<Refusal['reason']>;
}

/** The first reason the statement (its parse tree and text) may not run here, or undefined. */
export async function unsafeReach(context: CallContext, statement: { node: unknown; text: string }, rules: ReachRules): Promise<Refusal | undefined> {
  const trust = await trustedOwners(context, rules);
  const refusal = await firstRefusal(context, statement, rules, trust);
  // Only a role can be trusted: where PUBLIC may create, the setting would not have helped.
  return refusal && 'owner' in refusal && refusal.owner !== 'PUBLIC' && trust.leftOut ? { ...refusal, trustLeftOut: true } : refusal;
}

/**
 * pg_llm.trusted_owners where the client chose it: set it itself (SET, set_config written in its statement, its
 * startup options: src/intercept/named-servers.ts), or the value the session starts with (ALTER ROLE/DATABASE … SET).
 * A value set by other code the session ran (another role's view calling set_config) is left out (`leftOut`): that
 * role would have the caller trust it, and its objects run with the caller's rights. Read only for a statement run
 * here, the only kind whose owners are judged.
 */
async function trustedOwners(context: CallContext, rules: ReachRules): Promise<Trust> {
  if (!rules.runs) return { owners: '', leftOut: false };
  const [row] = await context.query(AI_SETTING_QUERY, [TRUSTED_OWNERS]);
  const owners = row?.value ?? '';
  if (owners === '' || row?.preset === 't' || context.namedByClient(owners, TRUSTED_OWNERS)) return { owners, leftOut: false };
  return { owners: '', leftOut: true };
}

interface Trust {
  /** pg_llm.trusted_owners, as the client set it. */
  owners: string;
  leftOut: boolean;
}

/** The first reason the statement may not run here, the roles `trusted` names trusted besides the caller's own. */
async function firstRefusal(context: CallContext, statement: { node: unknown; text: string }, rules: ReachRules, trusted: Trust): Promise<Refusal | undefined> {
  const references = referencesIn(statement.node, rules);
  const byCandidates = await judge(context, namesOf(references, null, true), rules, trusted);
  // Built-in candidates are PostgreSQL's own code; what PostgreSQL resolves the statement to matters where one of
  // its names can resolve to another's.
  if (!byCandidates.refusal || !byCandidates.othersNamed) return byCandidates.refusal;
  const resolved = await resolvedCalls(context, statement.text);
  if (!resolved) return byCandidates.refusal;
  const byResolution = await judge(context, [
    ...namesOf({ ...references, functions: [], attributeFunctions: [], operators: [] }, null, false),
    ...schemasNamed(references, null),
    ...resolved.functions.map((oid) => ({ kind: 'resolved function', oid, via: null })),
    ...resolved.casts.map((oid) => ({ kind: 'resolved cast', oid, via: null })),
    ...resolved.operators.map((oid) => ({ kind: 'resolved operator', oid, via: null })),
  ], rules, trusted);
  return byResolution.refusal;
}

/** The rows that are not refusals: what the statement reaches, to be followed. */
const FOLLOWED: ReadonlyArray<Row['reason']> = ['check', 'type', 'in play', 'others', 'written view'];

interface Judgement {
  refusal: Refusal | undefined;
  /** A name of the statement's own can resolve to a function or operator of others than PostgreSQL. */
  othersNamed: boolean;
}

/** Follows the names level by level, each level in one query, to the first refusal met. */
async function judge(context: CallContext, statementNames: Array<Record<string, unknown>>, rules: ReachRules, trusted: Trust): Promise<Judgement> {
  const checked = new Set<string>();
  const typesInPlay = new Set<string>();
  let names = statementNames;
  let othersNamed: boolean | undefined;
  // What row-level security policies reach, judged apart (below).
  const policyNames: Array<Record<string, unknown>> = [];
  while (names.length > 0) {
    const rows = await lookUp(context, names, rules, [...typesInPlay], trusted);
    othersNamed ??= rows.some((row) => row.reason === 'others');
    const refusal = rows.find((row) => !FOLLOWED.includes(row.reason) && (rules.refusing?.has(row.reason as Refusal['reason']) ?? true));
    if (refusal) return { refusal: refusalOf(refusal), othersNamed };
    names = [];
    for (const row of rows) {
      // A refusal these rules pass over.
      if (!FOLLOWED.includes(row.reason)) continue;
      if (row.reason === 'in play') {
        typesInPlay.add(row.name);
        continue;
      }
      if (row.reason === 'others' || checked.has(row.key)) continue;
      checked.add(row.key);
      if (row.reason === 'type') {
        names.push({ kind: 'part', oid: row.name, consumed: row.text === 'consumed', via: row.via });
        continue;
      }
      const nodes = (await parseStatements(row.text)).map((statement) => statement.node);
      const references = referencesIn(nodes, rules);
      if (row.reason === 'written view') references.relations.push(...writtenThrough(nodes, row.name === null ? undefined : JSON.parse(row.name)));
      (isPolicy(row) && rules.systemSchemas !== undefined ? policyNames : names).push(...namesOf(references, row.via, isParsedAsItRuns(row)));
    }
  }
  // A policy is its table owner's guard, not the statement's reading: what it reads of the server (the common
  // tenant = current_setting('app.tenant'), a membership looked up in pg_auth_members) only decides which rows the
  // caller sees, never shows in them. So system catalogs and server state are allowed in what policies reach; every
  // other rule holds there.
  if (policyNames.length === 0) return { refusal: undefined, othersNamed: othersNamed ?? false };
  const byPolicies = await judge(context, policyNames, { ...rules, systemSchemas: undefined }, trusted);
  return { refusal: byPolicies.refusal, othersNamed: othersNamed ?? false };
}

/** A row-level security policy's expressions, to be checked (REACHED keys them 'policy <oid>'). */
function isPolicy(row: Row): boolean {
  return row.reason === 'check' && row.key.startsWith('policy ');
}

/** A SQL function's body kept as text (not BEGIN ATOMIC), whose names PostgreSQL resolves only as it runs. */
function isParsedAsItRuns(row: Row): boolean {
  return row.reason === 'check' && row.key.startsWith('function text ');
}

/** A write handed back rather than run is not followed into what it would fire. */
function referencesIn(node: unknown, rules: ReachRules): References {
  const references = referencesOf(node);
  if (!rules.runs) references.relations = references.relations.map(({ schema, name }) => ({ ...(schema === undefined ? {} : { schema }), name, target: false }));
  return references;
}

/**
 * The references as the lookup takes them, each with the object it was reached through; with the schemas they name
 * when PostgreSQL resolves them only as the SQL runs (`parsedAsItRuns`), rather than from a stored tree's oids.
 */
function namesOf(references: References, via: string | null, parsedAsItRuns: boolean): Array<Record<string, unknown>> {
  return [
    ...(parsedAsItRuns ? schemasNamed(references, via) : []),
    ...references.functions.map((name) => ({ kind: 'function', via, ...name })),
    ...references.attributeFunctions.map((name) => ({ kind: 'attribute', via, ...name })),
    ...references.operators.map((name) => ({ kind: 'operator', via, ...name })),
    ...references.types.map((name) => ({ kind: 'type', via, ...name })),
    ...references.relations.map((relation) => ({ kind: 'relation', via, ...relation })),
  ];
}

/** The schemas the names name, where whoever may create could add a better match for them after the check. */
function schemasNamed(references: References, via: string | null): Array<Record<string, unknown>> {
  const schemas = new Set([...references.functions, ...references.operators, ...references.types, ...references.relations].flatMap(({ schema }) => (schema === undefined ? [] : [schema])));
  return [...schemas].map((schema) => ({ kind: 'schema', via, schema, name: '' }));
}

async function lookUp(context: CallContext, names: Array<Record<string, unknown>>, rules: ReachRules, typesInPlay: string[], trusted: Trust): Promise<Row[]> {
  const { systemSchemas } = rules;
  const rows = await context.query(REACHED, [
    JSON.stringify(names),
    array(RUNS_SQL_TEXT),
    array(HARMLESS_VOLATILE),
    array(systemSchemas ?? []),
    String(systemSchemas !== undefined),
    `{${typesInPlay.join(',')}}`,
    array(SEEN_BY_OTHER_SESSIONS),
    array(RUNS_TYPE_CODE),
    array(rules.stubs ?? []),
    array(READS_SERVER_STATE),
    String(rules.runs),
    trusted.owners,
    String(rules.temporaryCode ?? false),
  ]);
  return rows as unknown as Row[];
}

function refusalOf(row: Row): Refusal {
  if (row.reason === 'language') return { reason: 'language', name: row.name, via: row.via, language: row.language };
  if (row.reason === 'owner') return { reason: row.reason, name: row.name, via: row.via, owner: row.language };
  if (row.reason === 'path' || row.reason === 'schema') return { reason: row.reason, name: row.name, via: row.via, owner: row.language, missing: row.text === 'missing' };
  return { reason: row.reason as Exclude<Refusal['reason'], 'language' | 'owner' | 'path' | 'schema'>, name: row.name, via: row.via };
}

function array(items: string[]): string {
  return `{${items.map((item) => `"${item.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}
