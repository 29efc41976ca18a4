// pg_llm's parallel chat: the candidates answer concurrently, the most confident answer wins, and confidence routing
// applies to it (below the threshold its fallback answers instead). A candidate whose provider fails is left out,
// unless all fail; a candidate that does not exist, or options that are wrong, fail the call. At most 16 candidates, so
// that one call cannot hold any number of provider requests open.

import { listModels } from '../src/catalog/models.js';
import { recordStep } from '../src/catalog/trace.js';
import { PgError } from '../proxy/pg-error.js';
import { answerJson, ask, audit, optionsObject, routed, type Answer, type Question } from './answer.js';
import { declareFunction, type CallContext } from './declaration.js';
import { mostConfident, type CandidateSummary } from './most-confident.js';
import { grounded } from './rag.js';

const MAX_CANDIDATES = 16;

interface Outcome {
  answer: Answer;
  candidates: CandidateSummary[];
}

async function parallelChat(context: CallContext, prompt: string, modelNames: unknown, options: unknown): Promise<Outcome> {
  // The knowledge enable_rag finds is searched once and given to every candidate.
  const callOptions = optionsObject(options);
  const { prompt: groundedPrompt, knowledge } = await grounded(context, prompt, callOptions);
  const question: Question = { prompt: groundedPrompt, options: { ...callOptions, enable_rag: false } };
  const names = await candidateNames(context, modelNames);
  const { best, candidates } = await mostConfident(names, (name) => ask(context, name, question));
  await recordStep(context, 'candidates', { candidates, chosen: best.instanceName });
  const answer = { ...(await routed(context, best, question)), knowledge };
  await audit(context, 'parallel_chat', answer);
  return { answer, candidates };
}

/** The models named, each once, or every registered model that is not only a local fallback; at most MAX_CANDIDATES. */
async function candidateNames(context: CallContext, modelNames: unknown): Promise<string[]> {
  const named = Array.isArray(modelNames) ? modelNames.filter((name): name is string => typeof name === 'string' && name !== '') : [];
  const names = named.length > 0 ? [...new Set(named)] : (await listModels(context)).filter((model) => !model.isLocalFallback).map((model) => model.instanceName);
  if (names.length === 0) {
    throw new PgError('42704', 'no model instance to ask', { hint: 'Register models with pg_llm_add_model, or name them in model_names.' });
  }
  if (names.length > MAX_CANDIDATES) {
    throw new PgError('54000', `parallel chat asks at most ${MAX_CANDIDATES} models, not ${names.length}`, {
      hint: `Name at most ${MAX_CANDIDATES} models in model_names${named.length > 0 ? '' : ' (without names, every registered model is asked)'}.`,
    });
  }
  return names;
}

const ARGUMENTS = [
  { name: 'prompt', type: 'text' },
  { name: 'model_names', type: 'text[]', default: "'{}'::pg_catalog.text[]" },
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
    arguments: [...ARGUMENTS, { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: "The most confident of several models' answers, with every candidate's score and the routing decision.",
    async run(args, context) {
      const { answer, candidates } = await parallelChat(context, String(args.prompt), args.model_names, args.options);
      return { ...answerJson(context, answer), candidates };
    },
  }),
];
