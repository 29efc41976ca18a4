// Decides from the catalog, not from names, whether a statement can reach code with effects a rollback does not
// undo, or code these checks never see. Every function, operator, cast, view, column default, identity column and
// trigger the statement's names (src/sql/references.ts) can resolve to through the caller's search_path (every
// candidate, not just the one PostgreSQL will pick) is followed through pg_depend, view by view, to the functions
// that would run, each held to these rules:
//
// - VOLATILE functions are refused (PostgreSQL's own mark for "may have side effects"), except a few whose effects
//   end with the statement's rolled-back savepoint: random(), gen_random_uuid(), clock_timestamp(), transaction-level
//   advisory locks, pg_sleep() (bounded by the statement timeout);
// - functions that run SQL given as text, or read a relation named by a value, are refused whatever their
//   volatility: query_to_xml(), table_to_xml(), ts_stat()…, since the statement they run was never checked;
// - functions in procedural languages (plpgsql…) are refused, however they are marked: a STABLE plpgsql function
//   can still EXECUTE anything, and its body cannot be checked. Built-in and C functions are taken at their mark
//   (only a superuser can create them). SQL functions have their bodies checked in turn, by these same rules,
//   resolved through the same search_path (one with a SET clause of its own is refused);
// - identity columns a write would fill are refused: the sequence does not go back on rollback (serial columns'
//   nextval() defaults are refused as volatile). Only when the write runs: a write handed back to the caller has
//   the effects the caller asked for.
//
// One query per level of SQL function bodies, in the caller's session, so the caller's search_path resolves names.

import type { CallContext } from '../../functions/declaration.js';
import { parseStatements } from '../intercept/analyze.js';
import { referencesOf, type References } from './references.js';

/** Functions that run a query given as text, or read a relation, schema or database named by a value. */
const RUNS_SQL_TEXT = [
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema',
  'cursor_to_xml', 'cursor_to_xmlschema',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
  'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema',
  'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
  'ts_stat', 'ts_rewrite',
];

/** pg_catalog's VOLATILE functions whose effects do not outlast the rolled-back savepoint the SQL runs in. */
const HARMLESS_VOLATILE = [
  'random', 'random_normal', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday',
  'pg_sleep', 'pg_sleep_for', 'pg_sleep_until',
  'pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared', 'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared',
];

export type Refusal =
  | { reason: 'runs-sql-text' | 'volatile' | 'settings' | 'identity'; name: string; via: string | null }
  | { reason: 'language'; name: string; via: string | null; language: string }
  | { reason: 'system'; name: string; via: string | null };

interface Row {
  reason: Refusal['reason'] | 'body';
  name: string;
  via: string | null;
  language: string;
  oid: string;
  body: string | null;
}

const REACHED = `
WITH RECURSIVE
  path AS (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(true))),
  named AS (
    SELECT w.* FROM jsonb_to_recordset($1::jsonb) AS w(kind text, schema text, name text, via text, target boolean, given jsonb)),
  seed_function AS (
    SELECT p.oid, w.via
      FROM named w JOIN pg_proc p ON p.proname = w.name
     WHERE w.kind IN ('function', 'attribute')
       AND CASE WHEN w.schema IS NULL THEN p.pronamespace IN (SELECT oid FROM path) ELSE p.pronamespace::regnamespace::text = quote_ident(w.schema) END
       AND (w.kind = 'function' OR (p.pronargs >= 1 AND p.pronargs - p.pronargdefaults <= 1 AND p.proargtypes[0] <> 'internal'::regtype))
    UNION
    SELECT o.oprcode::oid, coalesce(w.via, format('operator %s.%s', o.oprnamespace::regnamespace, o.oprname))
      FROM named w JOIN pg_operator o ON o.oprname = w.name
     WHERE w.kind = 'operator' AND o.oprcode <> 0
       AND CASE WHEN w.schema IS NULL THEN o.oprnamespace IN (SELECT oid FROM path) ELSE o.oprnamespace::regnamespace::text = quote_ident(w.schema) END),
  cast_type AS (
    SELECT t.oid, t.typinput, t.typbasetype, coalesce(w.via, 'a cast to ' || t.oid::regtype::text) AS via
      FROM named w JOIN pg_type t ON t.oid = to_regtype(CASE WHEN w.schema IS NULL THEN quote_ident(w.name) ELSE format('%I.%I', w.schema, w.name) END)
     WHERE w.kind = 'type'),
  relation AS (
    SELECT c.oid, w.via, w.target, w.given
      FROM named w JOIN pg_class c ON c.oid = to_regclass(CASE WHEN w.schema IS NULL THEN quote_ident(w.name) ELSE format('%I.%I', w.schema, w.name) END)
     WHERE w.kind = 'relation'),
  seed(classid, objid, via) AS (
    SELECT 'pg_proc'::regclass::oid, oid, via FROM seed_function
    UNION
    SELECT 'pg_proc'::regclass::oid, f.oid, t.via
      FROM cast_type t, LATERAL (SELECT castfunc FROM pg_cast WHERE casttarget = t.oid AND castfunc <> 0 UNION SELECT t.typinput) AS f(oid)
    UNION
    SELECT 'pg_constraint'::regclass::oid, k.oid, t.via
      FROM cast_type t JOIN pg_constraint k ON k.contypid IN (t.oid, nullif(t.typbasetype, 0))
    UNION
    SELECT 'pg_class'::regclass::oid, oid, via FROM relation
    UNION
    SELECT 'pg_attrdef'::regclass::oid, d.oid, coalesce(r.via, format('the default of %s.%I', r.oid::regclass, a.attname))
      FROM relation r JOIN pg_attrdef d ON d.adrelid = r.oid JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.adnum
     WHERE r.target AND r.given IS NOT NULL AND NOT r.given ? a.attname
    UNION
    SELECT 'pg_proc'::regclass::oid, g.tgfoid, coalesce(r.via, format('trigger %I on %s', g.tgname, r.oid::regclass))
      FROM relation r JOIN pg_trigger g ON g.tgrelid = r.oid
     WHERE r.target AND NOT g.tgisinternal AND g.tgenabled <> 'D'),
  reached(classid, objid, via) AS (
    SELECT * FROM seed
    UNION
    SELECT next.* FROM reached r, LATERAL (
      SELECT 'pg_rewrite'::regclass::oid, w.oid, coalesce(r.via, 'view ' || r.objid::regclass::text)
        FROM pg_rewrite w WHERE r.classid = 'pg_class'::regclass AND w.ev_class = r.objid
      UNION ALL
      SELECT d.refclassid, d.refobjid, r.via
        FROM pg_depend d
       WHERE r.classid <> 'pg_class'::regclass AND d.classid = r.classid AND d.objid = r.objid
         AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_class'::regclass)
      UNION ALL
      SELECT 'pg_proc'::regclass::oid, o.oprcode, r.via FROM pg_operator o WHERE r.classid = 'pg_operator'::regclass AND o.oid = r.objid
    ) AS next(classid, objid, via)),
  judged AS (
    SELECT r.via, p.oid, format('%s.%s', p.pronamespace::regnamespace, p.proname) AS name, l.lanname AS language,
           CASE
             WHEN p.proname = ANY ($2::text[]) THEN 'runs-sql-text'
             WHEN p.provolatile = 'v' AND NOT (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($3::text[])) THEN 'volatile'
             WHEN l.lanname NOT IN ('internal', 'c', 'sql') THEN 'language'
             WHEN l.lanname = 'sql' AND p.proconfig IS NOT NULL THEN 'settings'
             WHEN $5 AND t.typrelid <> 0 AND (SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = t.typrelid) = ANY ($4::text[]) THEN 'system'
             WHEN l.lanname = 'sql' THEN 'body'
           END AS reason,
           CASE WHEN l.lanname = 'sql' THEN p.prosrc END AS body
      FROM reached r JOIN pg_proc p ON p.oid = r.objid JOIN pg_language l ON l.oid = p.prolang JOIN pg_type t ON t.oid = p.prorettype
     WHERE r.classid = 'pg_proc'::regclass)
SELECT reason, name, via, language, oid::text, body FROM judged WHERE reason IS NOT NULL
UNION ALL
SELECT 'system', format('%s.%s', c.relnamespace::regnamespace, c.relname), r.via, NULL, c.oid::text, NULL
  FROM reached r JOIN pg_class c ON c.oid = r.objid
 WHERE $5 AND r.classid = 'pg_class'::regclass AND c.relnamespace::regnamespace::text = ANY ($4::text[])
UNION ALL
SELECT 'identity', format('%s.%I', r.oid::regclass, a.attname), r.via, NULL, r.oid::text, NULL
  FROM relation r JOIN pg_attribute a ON a.attrelid = r.oid
 WHERE r.target AND r.given IS NOT NULL AND a.attidentity <> '' AND NOT a.attisdropped AND NOT r.given ? a.attname`;

export interface ReachRules {
  /** Schemas whose relations the statement may not reach, through a view or a function body either. */
  systemSchemas?: string[] | undefined;
  /** The statement's writes run (rolled back), so the defaults, identity columns and triggers they fire count. */
  writesRun: boolean;
}

/** The first reason the statement may not run here, or undefined. */
export async function unsafeReach(context: CallContext, node: unknown, rules: ReachRules): Promise<Refusal | undefined> {
  const checked = new Set<string>();
  const references = referencesOf(node);
  if (!rules.writesRun) references.relations = references.relations.map((relation) => ({ ...relation, target: false, given: undefined }));
  let names = namesOf(references, null);
  while (names.length > 0) {
    const rows = await lookUp(context, names, rules.systemSchemas);
    const refusal = rows.find((row) => row.reason !== 'body');
    if (refusal) return refusalOf(refusal);
    names = [];
    for (const row of rows) {
      if (checked.has(row.oid)) continue;
      checked.add(row.oid);
      names.push(...namesOf(bodyReferences(row.body ?? ''), row.via ?? `function ${row.name}`));
    }
  }
  return undefined;
}

/** The references as the lookup takes them, each with the object it was reached through. */
function namesOf(references: References, via: string | null): Array<Record<string, unknown>> {
  return [
    ...references.functions.map((name) => ({ kind: 'function', via, ...name })),
    ...references.attributeFunctions.map((name) => ({ kind: 'attribute', via, ...name })),
    ...references.operators.map((name) => ({ kind: 'operator', via, ...name })),
    ...references.types.map((name) => ({ kind: 'type', via, ...name })),
    ...references.relations.map((relation) => ({ kind: 'relation', via, ...relation })),
  ];
}

async function lookUp(context: CallContext, names: Array<Record<string, unknown>>, systemSchemas: string[] | undefined): Promise<Row[]> {
  const rows = await context.query(REACHED, [
    JSON.stringify(names),
    array(RUNS_SQL_TEXT),
    array(HARMLESS_VOLATILE),
    array(systemSchemas ?? []),
    String(systemSchemas !== undefined),
  ]);
  return rows as unknown as Row[];
}

/** A SQL function's body: `BEGIN ATOMIC` bodies (prosrc empty) were followed through pg_depend already. */
function bodyReferences(body: string): References {
  return referencesOf(parseStatements(body).map((statement) => statement.node));
}

function refusalOf(row: Row): Refusal {
  if (row.reason === 'language') return { reason: 'language', name: row.name, via: row.via, language: row.language };
  return { reason: row.reason as Exclude<Refusal['reason'], 'language'>, name: row.name, via: row.via };
}

function array(items: string[]): string {
  return `{${items.map((item) => `"${item}"`).join(',')}}`;
}
