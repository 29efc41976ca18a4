// pg_ai_query's generate_query (seed 002): natural language in, one SQL statement out, written by a model against
// the schema the caller can see, found in the model's answer, and held to the rules of [query] in ~/.pg_ai.config
// (src/sql/statement.ts) before it is handed back. It is never run.

import { recordStep } from '../src/catalog/trace.js';
import type { GenerationSettings } from '../src/providers/default-provider.js';
import { sqlFromAnswer } from '../src/sql/extract.js';
import { schemaText, visibleTables } from '../src/sql/schema-context.js';
import { checkSql, type SqlRules } from '../src/sql/statement.js';
import { PgError } from '../proxy/pg-error.js';
import { requiredText } from './answer.js';
import { declareFunction } from './declaration.js';
import { askModel, auditDefault, chosenModel } from './default-model.js';
import { generatedAnswer } from './pg-ai-response.js';

/** The seed's bound on natural_language_query. */
const MAX_REQUEST_CHARS = 4096;

type QuerySettings = GenerationSettings['query'];

function systemPrompt(query: QuerySettings): string {
  return [
    'You are a PostgreSQL expert. Write one correct, efficient SQL statement for the request, using only the tables and columns of the schema given.',
    'Answer with a JSON object and nothing else:',
    '{"sql": "<the statement>", "explanation": "<one or two sentences on what it does>", "warnings": ["<assumptions or risks>"], "suggested_visualization": "<bar, line, pie, table or none>"}',
    'If the schema cannot answer the request, answer {"sql": "", "explanation": "<why, naming the tables that exist>"}.',
    'Write exactly one statement. Never read pg_catalog or information_schema.',
    query.allow_dml ? 'Write the statement the request asks for: INSERT, UPDATE or DELETE when it asks for a change.' : 'Write only queries: never INSERT, UPDATE, DELETE or MERGE.',
    query.allow_ddl ? '' : 'Never change the schema (no CREATE, ALTER, DROP, GRANT).',
    query.enforce_limit ? `Give a SELECT a LIMIT of at most ${query.default_limit} rows unless the request asks for a number of rows.` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

function rules(query: QuerySettings): SqlRules {
  return {
    dml: query.allow_dml ? 'warn' : 'refuse',
    ddl: query.allow_ddl ? 'warn' : 'refuse',
    systemTables: query.allow_system_tables,
    runs: false,
    limit: query.enforce_limit ? query.default_limit : undefined,
    source: 'the SQL the model wrote',
    rulesHint: '[query] allow_dml, allow_ddl and allow_system_tables in the pg_ai_query config file (--pg-ai-config) decide what generate_query may return.',
  };
}

function requestText(value: unknown): string {
  const text = requiredText(value, 'natural_language_query');
  if (text.trim() === '') throw new PgError('22023', 'natural_language_query must not be empty');
  if (text.length > MAX_REQUEST_CHARS) {
    throw new PgError('22023', `natural_language_query is ${text.length} characters long, more than the ${MAX_REQUEST_CHARS} allowed`, {
      hint: 'Describe the query more briefly; the schema is added to the request by generate_query itself.',
    });
  }
  return text;
}

export const generateQueryFunctions = [
  declareFunction({
    name: 'generate_query',
    arguments: [
      { name: 'natural_language_query', type: 'text' },
      { name: 'api_key', type: 'text', default: 'NULL::pg_catalog.text', secret: 'key' },
      { name: 'provider', type: 'text', default: "'auto'::pg_catalog.text" },
    ],
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: 'One SQL statement for a request in natural language, written by a model against the schema the current role can see; not run.',
    async run(args, context) {
      const request = requestText(args.natural_language_query);
      const model = chosenModel(context, args.api_key, args.provider);
      const { query, response } = context.defaults.generation;
      const schema = schemaText(await visibleTables(context), request);
      const answer = await askModel(context, model, `Schema:\n${schema}\n\nRequest: ${request}`, { system_prompt: systemPrompt(query) });
      const found = await sqlFromAnswer(answer.result.text);
      await recordStep(context, 'generated_sql', { sql: found.sql });
      const checked = await checkSql(context, found.sql, rules(query));
      await recordStep(context, 'validation', { statement: checked.command, kind: checked.kind, warnings: checked.warnings, limit_added: checked.limitAdded });
      await auditDefault(context, 'generate_query', model, answer, { statement: checked.command, limit_added: checked.limitAdded });
      return generatedAnswer(response, {
        query: checked.sql,
        explanation: found.explanation,
        warnings: [...checked.warnings, ...found.warnings],
        visualization: found.visualization,
        rowLimitApplied: checked.limitAdded,
        defaultLimit: query.default_limit,
      });
    },
  }),
];
