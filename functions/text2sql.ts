// pg_llm's text-to-SQL: a question in, one read-only query out, written by a model instance against the schema the
// caller can see (or the schema_info it gives), with earlier question/SQL pairs like this one as examples. The
// query is checked as generate_query's is (src/sql/statement.ts), but only queries pass; pg_llm_text2sql_json also
// runs it read-only with the caller's rights and a row cap (src/sql/run-query.ts). Each pair is kept for later
// questions (src/catalog/queries.ts).

import { saveQuery, similarQueries, type SimilarQuery } from '../src/catalog/queries.js';
import { recordStep } from '../src/catalog/trace.js';
import { sqlFromAnswer, type ModelSql } from '../src/sql/extract.js';
import { runQuery } from '../src/sql/run-query.js';
import { schemaInfoText, schemaText, visibleTables } from '../src/sql/schema-context.js';
import { checkSql, type CheckedSql } from '../src/sql/statement.js';
import { ask, audit, optionsObject, requiredText, usage, type Answer } from './answer.js';
import { executionLimits, wholeNumberOption } from './call-options.js';
import { declareFunction, type CallContext } from './declaration.js';

const SYSTEM_PROMPT = [
  'You translate questions into one read-only PostgreSQL query (SELECT, VALUES or WITH … SELECT) over the schema given.',
  'Use only its tables and columns. Answer with a JSON object and nothing else: {"sql": "<the query>", "explanation": "<one sentence>"}.',
  'If the schema cannot answer the question, answer {"sql": "", "explanation": "<why>"}.',
].join('\n');
const DEFAULT_EXAMPLES = 3;
const MAX_EXAMPLES = 20;

interface Generated {
  question: string;
  answer: Answer;
  found: ModelSql;
  checked: CheckedSql;
  similar: SimilarQuery[];
  timings: { schema_ms: number; generation_ms: number };
}

const ARGUMENTS = [
  { name: 'instance_name', type: 'text' },
  { name: 'prompt', type: 'text' },
  { name: 'schema_info', type: 'text', default: 'NULL::pg_catalog.text' },
  { name: 'use_vector_search', type: 'boolean', default: 'true' },
];

async function generate(context: CallContext, args: Record<string, unknown>, options: Record<string, unknown>): Promise<Generated> {
  const instanceName = requiredText(args.instance_name, 'instance_name');
  const question = requiredText(args.prompt, 'prompt');
  const started = performance.now();
  const ownSchema = typeof args.schema_info === 'string' && args.schema_info.trim() !== '';
  const schema = ownSchema ? schemaInfoText(args.schema_info as string) : schemaText(await visibleTables(context), question);
  const similar = args.use_vector_search === false ? [] : await similarQueries(context, question, wholeNumberOption(options, 'similar_queries', DEFAULT_EXAMPLES, 0, MAX_EXAMPLES));
  await recordStep(context, 'schema', { source: ownSchema ? 'schema_info' : 'catalog', characters: schema.length, similar_queries: similar.map((pair) => pair.question) });
  const schemaMs = Math.round(performance.now() - started);
  const shown = similar.map((pair) => `-- ${pair.question.replace(/\n/g, ' ')}\n${pair.sql};`).join('\n\n');
  const prompt = `Schema:\n${schema}\n\n${shown ? `Earlier questions and the SQL that answered them:\n${shown}\n\n` : ''}Question: ${question}`;
  const answer = await ask(context, instanceName, { prompt, options: { ...options, system_prompt: SYSTEM_PROMPT } });
  const found = await sqlFromAnswer(answer.result.text);
  await recordStep(context, 'generated_sql', { sql: found.sql });
  const checked = await checkSql(context, found.sql, {
    dml: 'refuse',
    ddl: 'refuse',
    systemTables: options.allow_system_tables === true,
    runs: true,
    source: 'the SQL the model wrote',
    rulesHint: 'Text-to-SQL writes only read-only queries (SELECT, VALUES, TABLE, WITH … SELECT); options.allow_system_tables = true allows the system catalogs.',
  });
  await recordStep(context, 'validation', { statement: checked.command, kind: checked.kind });
  return { question, answer, found, checked, similar, timings: { schema_ms: schemaMs, generation_ms: answer.latencyMs } };
}

export const text2sqlFunctions = [
  declareFunction({
    name: 'pg_llm_text2sql',
    arguments: ARGUMENTS,
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: 'One read-only query answering a question, written by the model against the schema the caller can see; not run.',
    async run(args, context) {
      const generated = await generate(context, args, {});
      await saveQuery(context, generated.answer.instanceName, generated.question, generated.checked.sql);
      await audit(context, 'text2sql', generated.answer);
      return generated.checked.sql;
    },
  }),
  declareFunction({
    name: 'pg_llm_text2sql_json',
    arguments: [...ARGUMENTS, { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: 'The query for a question, run read-only with its plan: sql, execution (columns, rows, plan), timings.',
    async run(args, context) {
      const started = performance.now();
      const options = optionsObject(args.options);
      const limits = executionLimits(options);
      const generated = await generate(context, args, options);
      const execution = options.execute === false ? null : await runQuery(context, generated.checked.sql, limits);
      if (execution) await recordStep(context, 'execution', { rows: execution.row_count, truncated: execution.truncated, execution_ms: execution.execution_ms, plan: execution.plan });
      await saveQuery(context, generated.answer.instanceName, generated.question, generated.checked.sql);
      await audit(context, 'text2sql', generated.answer);
      const { answer, found, checked } = generated;
      return {
        request_id: context.requestId,
        instance_name: answer.instanceName,
        model_name: answer.result.model,
        question: generated.question,
        sql: checked.sql,
        ...(found.explanation ? { explanation: found.explanation } : {}),
        similar_queries: generated.similar,
        execution,
        timings: { ...generated.timings, execution_ms: execution?.execution_ms ?? 0, total_ms: Math.round(performance.now() - started) },
        confidence_score: answer.result.confidence,
        usage: usage(answer.result),
      };
    },
  }),
];
