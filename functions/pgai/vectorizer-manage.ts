// pgai's functions that manage a vectorizer (its db/sql/idempotent/012-vectorizer-api.sql), each by id and by name
// as pgai has them: drop it (its trigger, trigger function and queues; with drop_all its store and view too), count
// its queue, disable or enable it (a disabled vectorizer's queue fills but the worker leaves it), and set its
// scheduling and indexing (ai.set_scheduling, by id only, as pgai has it). Real functions
// with their caller's rights: the catalog's row security shows each role only the vectorizers of its own tables.

import { declareSqlFunction, type ArgumentDeclaration, type SqlFunctionDeclaration } from '../declaration.js';
import { INDEXING_CHECKS, servedChecks } from './vectorizer-create.js';

const SCHEMA = 'ai';
const BY_ID: ArgumentDeclaration = { name: 'vectorizer_id', type: 'integer' };
const BY_NAME: ArgumentDeclaration = { name: 'name', type: 'text' };

/** The vectorizer's row into _v, or the error pgai's users meet for an id that is not theirs or not there. */
const FIND = `
  SELECT v.* INTO _v FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id = vectorizer_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = pg_catalog.format('vectorizer %s does not exist', vectorizer_id),
      HINT = 'SELECT id, name FROM ai.vectorizer lists the vectorizers of your tables.';
  END IF;`;

/**
 * SQL (in a function with _v, a vectorizer's row, and _queue, its queue's quoted name): whether the caller may count
 * the queue, being the vectorizer's owner, whose plain table it is. Counting plans a query of the queue, and planning
 * runs code of its owner's (an immutable call of an index expression is evaluated then), as a view's functions and
 * a table's policies run as whoever reads it: any other caller who sees the vectorizer (an admin, a superuser reading
 * ai.vectorizer_status) would run it.
 */
const COUNTABLE_QUEUE = `EXISTS (SELECT FROM pg_catalog.pg_class c
                 WHERE c.oid = pg_catalog.to_regclass(_queue) AND c.relkind = 'r' AND c.relowner = _v.owner
                   AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user))`;

function byIdAndName(spec: {
  name: string;
  more: ArgumentDeclaration[];
  result: string;
  volatility: SqlFunctionDeclaration['volatility'];
  description: string;
  body: string;
}): SqlFunctionDeclaration[] {
  const common = { schema: SCHEMA, name: spec.name, result: { kind: 'scalar' as const, type: spec.result }, strict: false, volatility: spec.volatility };
  const passed = spec.more.map((argument) => `, ${spec.name}.${argument.name}`).join('');
  return [
    declareSqlFunction({ ...common, arguments: [BY_ID, ...spec.more], description: spec.description, language: 'plpgsql', body: spec.body }),
    declareSqlFunction({
      ...common,
      arguments: [BY_NAME, ...spec.more],
      description: `${spec.description} By the vectorizer's name.`,
      language: 'sql',
      body: `SELECT ai.${spec.name}(v.id${passed}) FROM (SELECT _pg_llm_catalog.vectorizer_named(${spec.name}.name) AS id) v WHERE v.id IS NOT NULL`,
    }),
  ];
}

function setDisabled(disabled: boolean): string {
  return `
DECLARE
  _v record;
BEGIN${FIND}
  UPDATE _pg_llm_catalog.pg_llm_vectorizers v SET disabled = ${disabled} WHERE v.id = vectorizer_id;
END`;
}

export const vectorizerManageFunctions: SqlFunctionDeclaration[] = [
  ...byIdAndName({
    name: 'drop_vectorizer',
    more: [{ name: 'drop_all', type: 'boolean', default: 'false' }],
    result: 'void',
    volatility: 'VOLATILE',
    description: "Drops the vectorizer: its trigger, trigger function and queues; with drop_all its store and view too (pgai).",
    // The row names the objects, and its owner may have written it by hand: only the owner's own are dropped, so that
    // a caller with the rights of others (an admin, a member of several roles) drops nothing of theirs through it.
    body: `
DECLARE
  _v record;
  _relation record;
BEGIN${FIND}
  IF (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', _v.source_schema, _v.source_table))) = _v.owner THEN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %I.%I', _v.trigger_name, _v.source_schema, _v.source_table);
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %I.%I', _v.trigger_name || '_truncate', _v.source_schema, _v.source_table);
  END IF;
  IF (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = pg_catalog.to_regprocedure(pg_catalog.format('%I.%I()', _v.queue_schema, _v.trigger_name))) = _v.owner THEN
    EXECUTE pg_catalog.format('DROP FUNCTION %I.%I()', _v.queue_schema, _v.trigger_name);
  END IF;
  FOR _relation IN
    SELECT o.name, c.relkind, c.relowner
      FROM pg_catalog.unnest(ARRAY[pg_catalog.format('%I.%I', _v.queue_schema, _v.queue_table), pg_catalog.format('%I.%I', _v.queue_schema, _v.queue_failed_table)]
             || CASE WHEN drop_all AND _v.config -> 'destination' ->> 'implementation' = 'table' THEN
                  ARRAY[pg_catalog.format('%I.%I', _v.config -> 'destination' ->> 'view_schema', _v.config -> 'destination' ->> 'view_name'),
                        pg_catalog.format('%I.%I', _v.config -> 'destination' ->> 'target_schema', _v.config -> 'destination' ->> 'target_table')] END)
           WITH ORDINALITY AS o(name, n)
      JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(o.name)
     ORDER BY o.n
  LOOP
    IF _relation.relowner <> _v.owner OR _relation.relkind NOT IN ('r', 'p', 'v') THEN
      RAISE WARNING USING MESSAGE = pg_catalog.format('%s is left as it is: it is not a table of the vectorizer''s owner', _relation.name);
    ELSE
      EXECUTE pg_catalog.format('DROP %s %s', CASE _relation.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, _relation.name);
    END IF;
  END LOOP;
  UPDATE _pg_llm_catalog.pg_llm_vectorizers v SET deleted = true WHERE v.id = vectorizer_id;
END`,
  }),
  ...byIdAndName({
    name: 'vectorizer_queue_pending',
    more: [{ name: 'exact_count', type: 'boolean', default: 'false' }],
    result: 'bigint',
    volatility: 'STABLE',
    description: "The rows waiting in the vectorizer's queue; beyond 10000 the largest bigint, unless exact_count (pgai).",
    // NULL unless its owner asks (COUNTABLE_QUEUE): the row names the queue as its owner wrote it.
    body: `
DECLARE
  _v record;
  _queue text;
  _pending bigint;
BEGIN${FIND}
  _queue := pg_catalog.format('%I.%I', _v.queue_schema, _v.queue_table);
  IF NOT ${COUNTABLE_QUEUE} THEN
    RETURN NULL;
  END IF;
  IF exact_count THEN
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s', _queue) INTO _pending;
    RETURN _pending;
  END IF;
  EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT FROM ONLY %s LIMIT 10001) AS q', _queue) INTO _pending;
  RETURN CASE WHEN _pending > 10000 THEN 9223372036854775807 ELSE _pending END;
END`,
  }),
  ...byIdAndName({
    name: 'disable_vectorizer_schedule',
    more: [],
    result: 'void',
    volatility: 'VOLATILE',
    description: "Stops the worker processing the vectorizer; its queue keeps filling (pgai).",
    body: setDisabled(true),
  }),
  ...byIdAndName({
    name: 'enable_vectorizer_schedule',
    more: [],
    result: 'void',
    volatility: 'VOLATILE',
    description: 'Lets the worker process the vectorizer again (pgai).',
    body: setDisabled(false),
  }),
  declareSqlFunction({
    schema: SCHEMA,
    name: 'set_scheduling',
    arguments: [BY_ID, { name: 'scheduling', type: 'jsonb', default: 'ai.scheduling_default()' }, { name: 'indexing', type: 'jsonb', default: 'ai.indexing_default()' }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    volatility: 'VOLATILE',
    description: "Sets the vectorizer's scheduling and indexing, checked as ai.create_vectorizer checks them, and returns its config; the worker builds a new index when it is due (pgai).",
    language: 'plpgsql',
    body: `
DECLARE
  _v record;
  _check record;
  _config jsonb;
BEGIN${FIND}
${servedChecks(['indexing', 'scheduling'])}
${INDEXING_CHECKS}
  UPDATE _pg_llm_catalog.pg_llm_vectorizers v SET config = v.config || pg_catalog.jsonb_build_object('scheduling', scheduling, 'indexing', indexing)
   WHERE v.id = vectorizer_id RETURNING v.config INTO _config;
  RETURN _config;
END`,
  }),
];
