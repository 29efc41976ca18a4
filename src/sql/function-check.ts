// Decides from the catalog, not from names, whether a statement can reach code with effects a rollback does not
// undo, or code these checks never see. Every function, operator, cast, view, column default, rule, identity column
// and trigger the statement's names (src/sql/references.ts) can resolve to through the caller's search_path (every
// candidate, not just the one PostgreSQL will pick) is looked up, and what runs in turn — a view's query, a default,
// a rule, a domain's CHECK, a SQL function's body — is deparsed by PostgreSQL and checked the same way (pg_depend
// would not do: it records no dependency on built-in objects). Functions are held to these rules:
//
// - VOLATILE functions are refused (PostgreSQL's own mark for "may have side effects"), except a few whose effects
//   end with the statement's rolled-back savepoint: random(), gen_random_uuid(), clock_timestamp(), transaction-level
//   advisory locks, pg_sleep() (bounded by the statement timeout);
// - functions that run SQL given as text, or read a relation named by a value, are refused whatever their
//   volatility: query_to_xml(), table_to_xml(), ts_stat()…, since the statement they run was never checked;
// - functions in procedural languages (plpgsql…) are refused, however they are marked: a STABLE plpgsql function
//   can still EXECUTE anything, and its body cannot be checked. Built-in and C functions are taken at their mark
//   (only a superuser can create them). SQL functions have their bodies checked in turn, resolved through the same
//   search_path (one with a SET clause of its own is refused); those of pg_catalog and information_schema, and
//   their views, are PostgreSQL's own and are not opened;
// - identity columns a write would fill are refused: the sequence does not go back on rollback (serial columns'
//   nextval() defaults are refused as volatile). Only when the write runs: a write handed back to the caller has
//   the effects the caller asked for.
//
// One query per level of nesting (a view of a view, a function calling a function), in the caller's session, so
// the caller's search_path resolves names.

import type { CallContext } from '../../functions/declaration.js';
import { parseStatements } from './parse.js';
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
  | { reason: 'runs-sql-text' | 'volatile' | 'settings' | 'identity' | 'system' | 'system-rows'; name: string; via: string | null }
  | { reason: 'language'; name: string; via: string | null; language: string };

interface Row {
  /** Or 'check': `text` (a view's query, a default, a rule, a SQL function's body) is checked in turn. */
  reason: Refusal['reason'] | 'check';
  name: string;
  via: string | null;
  language: string;
  /** The object whose text is to be checked, so that each is checked once. */
  key: string;
  text: string;
}

const REACHED = `
WITH
  path AS (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(true))),
  trusted AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema')),
  named AS (
    SELECT w.* FROM jsonb_to_recordset($1::jsonb) AS w(kind text, schema text, name text, via text, target boolean, given jsonb)),
  relation AS (
    SELECT c.oid, c.relkind, c.relnamespace, w.via, w.target, w.given
      FROM named w JOIN pg_class c ON c.oid = to_regclass(CASE WHEN w.schema IS NULL THEN quote_ident(w.name) ELSE format('%I.%I', w.schema, w.name) END)
     WHERE w.kind = 'relation'),
  cast_type AS (
    SELECT t.oid, t.typinput, t.typbasetype, coalesce(w.via, 'a cast to ' || t.oid::regtype::text) AS via
      FROM named w JOIN pg_type t ON t.oid = to_regtype(CASE WHEN w.schema IS NULL THEN quote_ident(w.name) ELSE format('%I.%I', w.schema, w.name) END)
     WHERE w.kind = 'type'),
  called AS (
    SELECT p.oid, w.via
      FROM named w JOIN pg_proc p ON p.proname = w.name
     WHERE w.kind IN ('function', 'attribute')
       AND CASE WHEN w.schema IS NULL THEN p.pronamespace IN (SELECT oid FROM path) ELSE p.pronamespace::regnamespace::text = quote_ident(w.schema) END
       AND (w.kind = 'function' OR (p.pronargs >= 1 AND p.pronargs - p.pronargdefaults <= 1 AND p.proargtypes[0] <> 'internal'::regtype))
    UNION
    SELECT o.oprcode, coalesce(w.via, format('operator %s.%s', o.oprnamespace::regnamespace, o.oprname))
      FROM named w JOIN pg_operator o ON o.oprname = w.name
     WHERE w.kind = 'operator' AND o.oprcode <> 0
       AND CASE WHEN w.schema IS NULL THEN o.oprnamespace IN (SELECT oid FROM path) ELSE o.oprnamespace::regnamespace::text = quote_ident(w.schema) END
    UNION
    SELECT f.oid, t.via
      FROM cast_type t, LATERAL (SELECT castfunc FROM pg_cast WHERE casttarget = t.oid AND castfunc <> 0 UNION SELECT t.typinput) AS f(oid)
    UNION
    SELECT g.tgfoid, coalesce(r.via, format('trigger %I on %s', g.tgname, r.oid::regclass))
      FROM relation r JOIN pg_trigger g ON g.tgrelid = r.oid
     WHERE r.target AND NOT g.tgisinternal AND g.tgenabled <> 'D'),
  run AS (
    SELECT oid, via FROM called
    UNION
    SELECT f.oid, c.via
      FROM called c JOIN pg_aggregate a ON a.aggfnoid = c.oid,
           unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::oid[]) AS f(oid)
     WHERE f.oid <> 0),
  judged AS (
    SELECT r.via, p.oid, format('%s.%s', p.pronamespace::regnamespace, p.proname) AS name, l.lanname AS language,
           CASE
             WHEN p.proname = ANY ($2::text[]) THEN 'runs-sql-text'
             WHEN p.provolatile = 'v' AND NOT (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($3::text[])) THEN 'volatile'
             WHEN l.lanname NOT IN ('internal', 'c', 'sql') THEN 'language'
             WHEN l.lanname = 'sql' AND p.proconfig IS NOT NULL THEN 'settings'
             WHEN $5 AND t.typrelid <> 0 AND (SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = t.typrelid) = ANY ($4::text[]) THEN 'system-rows'
             WHEN l.lanname = 'sql' AND p.pronamespace NOT IN (SELECT oid FROM trusted) THEN 'check'
           END AS reason,
           CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_functiondef(p.oid) ELSE p.prosrc END AS body
      FROM run r JOIN pg_proc p ON p.oid = r.oid JOIN pg_language l ON l.oid = p.prolang JOIN pg_type t ON t.oid = p.prorettype)
SELECT reason, name, coalesce(via, CASE WHEN reason = 'check' THEN 'function ' || name END) AS via, language, 'function ' || oid AS key,
       CASE WHEN reason = 'check' THEN body END AS text
  FROM judged WHERE reason IS NOT NULL
UNION ALL
SELECT 'system', format('%s.%s', relnamespace::regnamespace, oid::regclass::text), via, NULL, NULL, NULL
  FROM relation WHERE $5 AND relnamespace::regnamespace::text = ANY ($4::text[])
UNION ALL
SELECT 'check', NULL, coalesce(via, 'view ' || oid::regclass::text), NULL, 'view ' || oid, pg_get_viewdef(oid)
  FROM relation WHERE relkind = 'v' AND relnamespace NOT IN (SELECT oid FROM trusted)
UNION ALL
SELECT 'check', NULL, coalesce(r.via, format('the default of %s.%I', r.oid::regclass, a.attname)), NULL, 'default ' || d.oid, 'SELECT ' || pg_get_expr(d.adbin, d.adrelid)
  FROM relation r JOIN pg_attrdef d ON d.adrelid = r.oid JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.adnum
 WHERE r.target AND r.given IS NOT NULL AND NOT r.given ? a.attname
UNION ALL
SELECT 'check', NULL, coalesce(r.via, format('rule %I on %s', w.rulename, r.oid::regclass)), NULL, 'rule ' || w.oid, pg_get_ruledef(w.oid)
  FROM relation r JOIN pg_rewrite w ON w.ev_class = r.oid
 WHERE r.target AND w.ev_type <> '1'
UNION ALL
SELECT 'check', NULL, t.via, NULL, 'constraint ' || k.oid, 'SELECT ' || pg_get_expr(k.conbin, 0)
  FROM cast_type t JOIN pg_constraint k ON k.contypid IN (t.oid, nullif(t.typbasetype, 0))
 WHERE k.contype = 'c'
UNION ALL
SELECT 'identity', format('%s.%I', r.oid::regclass, a.attname), r.via, NULL, NULL, NULL
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
  let names = namesOf(referencesIn(node, rules), null);
  while (names.length > 0) {
    const rows = await lookUp(context, names, rules.systemSchemas);
    const refusal = rows.find((row) => row.reason !== 'check');
    if (refusal) return refusalOf(refusal);
    names = [];
    for (const row of rows) {
      if (checked.has(row.key)) continue;
      checked.add(row.key);
      names.push(...namesOf(referencesIn((await parseStatements(row.text)).map((statement) => statement.node), rules), row.via));
    }
  }
  return undefined;
}

/** A write handed back rather than run is not followed into what it would fire. */
function referencesIn(node: unknown, rules: ReachRules): References {
  const references = referencesOf(node);
  if (!rules.writesRun) references.relations = references.relations.map(({ schema, name }) => ({ ...(schema === undefined ? {} : { schema }), name, target: false }));
  return references;
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

function refusalOf(row: Row): Refusal {
  if (row.reason === 'language') return { reason: 'language', name: row.name, via: row.via, language: row.language };
  return { reason: row.reason as Exclude<Refusal['reason'], 'language'>, name: row.name, via: row.via };
}

function array(items: string[]): string {
  return `{${items.map((item) => `"${item}"`).join(',')}}`;
}
