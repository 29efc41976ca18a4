// pg_llm's parallel chat: the candidates answer concurrently, the most confident answer wins, and confidence routing
// applies to it (below the threshold its fallback answers instead). A candidate whose provider fails is left out,
// unless all fail; a candidate that does not exist, or options that are wrong, fail the call.

import { listModels } from '../src/catalog/models.js';
import { recordStep } from '../src/catalog/trace.js';
import { PgError } from '../proxy/pg-error.js';
import { answerJson, ask, audit, optionsObject, routed, type Answer, type Question } from './answer.js';
import { declareFunction, type CallContext } from './declaration.js';
import { grounded } from './rag.js';

interface Outcome {
  answer: Answer;
  candidates: Array<Record<string, unknown>>;
}

async function parallelChat(context: CallContext, prompt: string, modelNames: unknown, options: unknown): Promise<Outcome> {
  // The knowledge enable_rag finds is searched once and given to every candidate.
  const callOptions = optionsObject(options);
  const { prompt: groundedPrompt, knowledge } = await grounded(context, prompt, callOptions);
  const question: Question = { prompt: groundedPrompt, options: { ...callOptions, enable_rag: false } };
  const names = await candidateNames(context, modelNames);
  const settled = await Promise.allSettled(names.map((name) => ask(context, name, question)));
  const callerErrors = settled.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected' && isCallerError(outcome.reason));
  if (callerErrors.length > 0) throw callerErrors[0]!.reason;
  const answers = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  if (answers.length === 0) throw (settled[0] as PromiseRejectedResult).reason;
  const best = answers.reduce((winner, answer) => (answer.result.confidence > winner.result.confidence ? answer : winner));
  const candidates = settled.map((outcome, i) =>
    outcome.status === 'fulfilled'
      ? { instance_name: names[i], model_name: outcome.value.result.model, confidence_score: outcome.value.result.confidence, latency_ms: outcome.value.latencyMs }
      : { instance_name: names[i], error: (outcome.reason as Error).message },
  );
  await recordStep(context, 'candidates', { candidates, chosen: best.instanceName });
  const answer = { ...(await routed(context, best, question)), knowledge };
  await audit(context, 'parallel_chat', answer);
  return { answer, candidates };
}

/** The models named, each once, or every registered model that is not only a local fallback. */
async function candidateNames(context: CallContext, modelNames: unknown): Promise<string[]> {
  const named = Array.isArray(modelNames) ? modelNames.filter((name): name is string => typeof name === 'string' && name !== '') : [];
  const names = named.length > 0 ? [...new Set(named)] : (await listModels(context)).filter((model) => !model.isLocalFallback).map((model) => model.instanceName);
  if (names.length === 0) {
    throw new PgError('42704', 'no model instance to ask', { hint: 'Register models with pg_llm_add_model, or name them in model_names.' });
  }
  return names;
}

/** Errors of the call itself rather than of one provider: they fail the call whatever the other candidates do. */
function isCallerError(error: unknown): boolean {
  return error instanceof PgError && !['39001', '57014'].includes(error.sqlstate);
}

const ARGUMENTS = [
  { name: 'prompt', type: 'text' },
  { name: 'model_names', type: 'text[]', default: "'{}'::text[]" },
];

export const parallelFunctions = [
  declareFunction({
    name: 'pg_llm_parallel_chat',
    arguments: ARGUMENTS,
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: 'Asks several models at once and answers with the most confident answer (or its fallback).',
    run: async (args, context) => (await parallelChat(context, String(args.prompt), args.model_names, {})).answer.result.text,
  }),
  declareFunction({
    name: 'pg_llm_parallel_chat_json',
    arguments: [...ARGUMENTS, { name: 'options', type: 'jsonb', default: "'{}'::jsonb" }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: "The most confident of several models' answers, with every candidate's score and the routing decision.",
    async run(args, context) {
      const { answer, candidates } = await parallelChat(context, String(args.prompt), args.model_names, args.options);
      return { ...answerJson(context, answer), candidates };
    },
  }),
];
