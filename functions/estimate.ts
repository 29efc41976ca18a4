// pg_llm_estimate: the model calls a statement would make, per model, and what they would cost, found without calling
// a model (src/cost/statement-estimate.ts); the statement runs with the caller's rights, its changes rolled back.

import { estimateStatement } from '../src/cost/statement-estimate.js';
import { declareFunction, noModel } from './declaration.js';

export const estimateFunctions = [
  declareFunction({
    name: 'pg_llm_estimate',
    arguments: [{ name: 'sql', type: 'text', sql: true }],
    result: {
      kind: 'table',
      columns: [
        { name: 'model', type: 'text' },
        { name: 'calls', type: 'bigint' },
        { name: 'distinct_calls', type: 'bigint' },
        { name: 'input_tokens', type: 'bigint' },
        { name: 'output_tokens', type: 'bigint' },
        { name: 'cost_usd', type: 'double precision' },
      ],
    },
    strict: true,
    description: "The model calls a statement would make, per model: calls, distinct calls, estimated tokens and cost; no model is called, and the statement's changes are rolled back.",
    models: noModel,
    async run(args, context) {
      const estimate = await estimateStatement(context, String(args.sql), 'the sql argument of pg_llm_estimate');
      return estimate.map((row) => ({
        model: row.model,
        calls: row.calls,
        distinct_calls: row.distinctCalls,
        input_tokens: row.inputTokens,
        output_tokens: row.outputTokens,
        cost_usd: row.costUsd,
      }));
    },
  }),
];
