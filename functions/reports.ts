// pg_llm's analysis and reports: the caller's query, run read-only with its rights and a row cap
// (src/sql/run-query.ts), its plan, and a model instance's reading of the result. A report adds a narrative summary,
// recommendations and a Vega-Lite chart chosen from the result's shape (src/sql/chart.ts), and is kept in
// _pg_llm_catalog.pg_llm_reports. The model sees the columns, the plan and the first sample_rows rows.

import { saveReport } from '../src/catalog/reports.js';
import { recordStep } from '../src/catalog/trace.js';
import { parseJsonAnswer } from '../src/providers/options.js';
import { chartFor, chartMark } from '../src/sql/chart.js';
import { runQuery, type Execution } from '../src/sql/run-query.js';
import { checkSql } from '../src/sql/statement.js';
import { PgError } from '../proxy/pg-error.js';
import { ask, audit, optionsObject, requiredText, type Answer } from './answer.js';
import { executionLimits, wholeNumberOption } from './call-options.js';
import { declareFunction, type CallContext } from './declaration.js';

const ANALYSIS_PROMPT =
  'You are a data analyst and PostgreSQL expert. Given a query, its result and its plan, explain what the result shows, anything notable in it, and how the query performs and could be improved. Be concise.';
const REPORT_PROMPT = [
  'You are a data analyst. Given a query, its result and its plan, write a short report.',
  'Answer with a JSON object and nothing else: {"title": "<a title>", "summary": "<a short narrative of what the data shows>", "recommendations": ["<an actionable recommendation>", …]}.',
].join('\n');
const DEFAULT_SAMPLE_ROWS = 20;

const ARGUMENTS = [
  { name: 'instance_name', type: 'text' },
  { name: 'sql', type: 'text' },
  { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
];

interface Run {
  instanceName: string;
  sql: string;
  execution: Execution;
  answer: Answer;
}

/** Checks and runs the caller's query, then asks the model about it with `system`. */
async function analyzed(context: CallContext, args: Record<string, unknown>, options: Record<string, unknown>, system: string, what: string): Promise<Run> {
  const instanceName = requiredText(args.instance_name, 'instance_name');
  const limits = executionLimits(options);
  const sample = wholeNumberOption(options, 'sample_rows', DEFAULT_SAMPLE_ROWS, 0, 1000);
  const checked = await checkSql(context, requiredText(args.sql, 'sql'), {
    dml: 'refuse',
    ddl: 'refuse',
    systemTables: true,
    runs: true,
    source: 'sql',
    rulesHint: `${what} runs one read-only query (SELECT, VALUES, TABLE, WITH … SELECT).`,
  });
  const execution = await runQuery(context, checked.sql, limits);
  await recordStep(context, 'execution', { rows: execution.row_count, truncated: execution.truncated, execution_ms: execution.execution_ms, plan: execution.plan });
  const answer = await ask(context, instanceName, { prompt: resultForModel(checked.sql, execution, sample), options: { ...options, system_prompt: system } });
  return { instanceName, sql: checked.sql, execution, answer };
}

function resultForModel(sql: string, execution: Execution, sample: number): string {
  const columns = execution.columns.map((column) => `${column.name} (${column.type})`).join(', ');
  const rows = execution.rows.slice(0, sample).map((row) => JSON.stringify(row));
  const shown = `${rows.length} of ${execution.row_count}${execution.truncated ? '+' : ''} rows`;
  return `Query:\n${sql}\n\nColumns: ${columns}\n\nResult (${shown}):\n${rows.join('\n')}\n\nPlan:\n${execution.plan.join('\n')}`;
}

/** The report the model wrote; an answer that is not the JSON asked for is taken as the summary. */
function reportText(text: string): { title?: string; summary: string; recommendations: string[] } {
  let parsed: Record<string, unknown>;
  try {
    parsed = parseJsonAnswer(text) as Record<string, unknown>;
  } catch {
    return { summary: text.trim(), recommendations: [] };
  }
  const recommendations = ([] as unknown[]).concat(parsed?.recommendations ?? []).filter((item): item is string => typeof item === 'string');
  return {
    ...(typeof parsed?.title === 'string' && parsed.title ? { title: parsed.title } : {}),
    summary: typeof parsed?.summary === 'string' ? parsed.summary : text.trim(),
    recommendations,
  };
}

function timings(run: Run, started: number) {
  return { execution_ms: run.execution.execution_ms, model_ms: run.answer.latencyMs, total_ms: Math.round(performance.now() - started) };
}

export const reportFunctions = [
  declareFunction({
    name: 'pg_llm_execute_sql_with_analysis',
    arguments: ARGUMENTS,
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "A read-only query's rows and plan, with the model's analysis of them.",
    async run(args, context) {
      const started = performance.now();
      const run = await analyzed(context, args, optionsObject(args.options), ANALYSIS_PROMPT, 'pg_llm_execute_sql_with_analysis');
      await audit(context, 'execute_sql_with_analysis', run.answer);
      const { columns, rows, row_count, truncated, plan } = run.execution;
      return {
        request_id: context.requestId,
        instance_name: run.answer.instanceName,
        model_name: run.answer.result.model,
        sql: run.sql,
        columns,
        rows,
        row_count,
        truncated,
        plan,
        analysis: run.answer.result.text,
        timings: timings(run, started),
      };
    },
  }),
  declareFunction({
    name: 'pg_llm_generate_report',
    arguments: ARGUMENTS,
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: 'A report on a read-only query: result, plan, summary, recommendations and a Vega-Lite chart; kept in pg_llm_reports.',
    async run(args, context) {
      const started = performance.now();
      const options = optionsObject(args.options);
      if (options.title !== undefined && typeof options.title !== 'string') throw new PgError('22023', 'options.title must be a string');
      const mark = chartMark(options.chart_type);
      const run = await analyzed(context, args, options, REPORT_PROMPT, 'pg_llm_generate_report');
      const written = reportText(run.answer.result.text);
      const title = (options.title as string | undefined) ?? written.title ?? 'Report';
      const { columns, rows, row_count, truncated, plan } = run.execution;
      const chart = chartFor(columns, rows, title, mark);
      const report = {
        request_id: context.requestId,
        instance_name: run.answer.instanceName,
        model_name: run.answer.result.model,
        title,
        sql: run.sql,
        summary: written.summary,
        recommendations: written.recommendations,
        result: { columns, rows, row_count, truncated },
        plan,
        chart: chart.kind,
        vega_lite: chart.spec,
        timings: timings(run, started),
      };
      const reportId = await saveReport(context, run.instanceName, run.sql, report);
      await recordStep(context, 'report', { report_id: reportId, chart: chart.kind });
      await audit(context, 'generate_report', run.answer);
      return { report_id: reportId, ...report };
    },
  }),
];
