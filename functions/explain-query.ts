// pg_ai_query's explain_query (seed 002): EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of the caller's statement, and a
// model's reading of the plan. Unlike the extension, which runs it as SECURITY DEFINER and lets an UPDATE's changes
// stand, it runs with the caller's rights, under a statement timeout, and whatever the statement changes is rolled
// back (src/sql/sandbox.ts).

import { recordStep } from '../src/catalog/trace.js';
import { runRolledBack } from '../src/sql/sandbox.js';
import { checkSql } from '../src/sql/statement.js';
import { requiredText } from './answer.js';
import { declareFunction } from './declaration.js';
import { askModel, auditDefault, chosenModel } from './default-model.js';
import { commentBlock } from './pg-ai-response.js';

/** How long the explained statement may run (or less, when the session's statement_timeout is shorter). */
const STATEMENT_TIMEOUT_MS = 30_000;

const SYSTEM_PROMPT = [
  'You are a PostgreSQL performance expert. Explain the EXPLAIN ANALYZE output you are given to a developer:',
  'what the plan does step by step, where the time and the buffers go, whether the row estimates were right,',
  'and concrete improvements (indexes, rewrites, statistics) where they would help. Be concise.',
].join(' ');

export const explainQueryFunctions = [
  declareFunction({
    name: 'explain_query',
    arguments: [
      { name: 'query_text', type: 'text' },
      { name: 'api_key', type: 'text', default: 'NULL::pg_catalog.text', secret: 'key' },
      { name: 'provider', type: 'text', default: "'auto'::pg_catalog.text" },
    ],
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: "A model's explanation of the statement's EXPLAIN ANALYZE; run with the caller's rights, its changes rolled back.",
    async run(args, context) {
      const checked = await checkSql(context, requiredText(args.query_text, 'query_text'), {
        dml: 'allow',
        ddl: 'refuse',
        systemTables: true,
        runs: true,
        source: 'query_text',
        rulesHint: 'explain_query explains one SELECT, INSERT, UPDATE, DELETE or MERGE statement.',
      });
      const model = chosenModel(context, args.api_key, args.provider);
      const [explained] = await runRolledBack(context, { readOnly: false, timeoutMs: STATEMENT_TIMEOUT_MS }, [
        { sql: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${checked.sql}` },
      ]);
      const plan = explained!.rows[0]![0]!;
      const [top] = JSON.parse(plan) as Array<{ 'Execution Time'?: number; 'Planning Time'?: number }>;
      await recordStep(context, 'explain', { statement: checked.command, execution_time_ms: top?.['Execution Time'], planning_time_ms: top?.['Planning Time'], rolled_back: true });
      const answer = await askModel(context, model, `Query:\n${checked.sql}\n\nEXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) output:\n${plan}`, { system_prompt: SYSTEM_PROMPT });
      await auditDefault(context, 'explain_query', model, answer, { statement: checked.command });
      const changed = checked.kind !== 'query';
      if (context.defaults.generation.response.use_formatted_response) {
        return JSON.stringify({ query: checked.sql, explanation: answer.result.text, plan: JSON.parse(plan), rolled_back: changed }, null, 2);
      }
      const note = changed ? `\n\n${commentBlock('Note', `The ${checked.command} ran for EXPLAIN ANALYZE; its changes were rolled back.`)}` : '';
      return `${answer.result.text}${note}`;
    },
  }),
];
