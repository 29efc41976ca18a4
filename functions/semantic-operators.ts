// Typed semantic operators: a yes/no question (llm_if, usable in WHERE), a choice among labels (llm_classify), data
// a JSON schema describes (llm_extract), a ranking of documents (llm_rerank), and a summary of a group of rows (the
// aggregate llm_summarize: summarize.ts, which answers in text). The others ask for JSON in a schema (structured
// output where the provider has it), check the answer, ask once more when it does not conform, and fail after that
// (structured-answer.ts). Called over many rows, the interception engine runs the calls concurrently like any other.

import { PgError } from '../proxy/pg-error.js';
import { ANSWER_TOKENS } from '../src/cost/worst-case.js';
import { estimateTokens } from '../src/providers/tokens.js';
import { declareFunction, type CallContext, type ModelRequest } from './declaration.js';
import { schemaValidator, validationProblem } from './json-schema.js';
import { operatorModel } from './operator-model.js';
import { rerankedBy, rerankModel, type Score } from './rerank-models.js';
import { questionRequests, structuredAnswer, type Checked, type StructuredQuestion } from './structured-answer.js';
import { summarize, summaryRequests } from './summarize.js';

const MODEL = { name: 'model', type: 'text', default: 'NULL::text' };
const MODEL_HINT = 'Name a more capable model in the model argument (or pg_llm.default_model), or make the prompt clearer.';

/** An object schema with the given properties, all required and no others: what providers' structured output enforces. */
function objectSchema(properties: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

/** The one member of an answer object, or the answer itself when the model answered it bare. */
function member(answer: unknown, name: string): unknown {
  return typeof answer === 'object' && answer !== null && !Array.isArray(answer) && name in answer ? (answer as Record<string, unknown>)[name] : answer;
}

function textArray(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw new PgError('22023', `${name} must be a one-dimensional text array`);
  if (value.some((element) => element === null)) throw new PgError('22004', `${name} must not contain NULL`);
  return value.map(String);
}

function ifQuestion(args: Record<string, unknown>): StructuredQuestion<boolean> | null {
  if (args.prompt === null) return null;
  return {
    operator: 'llm_if',
    system: 'Decide whether the statement or the yes/no question in the prompt is true. Answer with JSON: {"answer": true} or {"answer": false}.',
    prompt: String(args.prompt),
    schema: objectSchema({ answer: { type: 'boolean' } }),
    check: (answer): Checked<boolean> => {
      const value = member(answer, 'answer');
      return typeof value === 'boolean' ? { ok: true, value } : { ok: false, problem: 'the answer is not true or false' };
    },
    hint: MODEL_HINT,
    answerTokens: estimateTokens('{"answer": false}'),
  };
}

function classifyQuestion(args: Record<string, unknown>): StructuredQuestion<string> | null {
  if (args.input === null || args.labels === null) return null;
  const labels = textArray(args.labels, 'labels');
  if (labels.length === 0) throw new PgError('22023', 'labels must not be empty', { hint: "Give the labels to choose from: ARRAY['refund', 'bug', 'other']." });
  return {
    operator: 'llm_classify',
    system: 'Classify the input: choose exactly one of the labels, spelled as given. Answer with JSON: {"label": "<the label>"}.',
    prompt: `Labels: ${JSON.stringify(labels)}\n\nInput:\n${String(args.input)}`,
    schema: objectSchema({ label: { type: 'string', enum: [...new Set(labels)] } }),
    check: (answer): Checked<string> => {
      const value = member(answer, 'label');
      return typeof value === 'string' && labels.includes(value) ? { ok: true, value } : { ok: false, problem: `${JSON.stringify(value)} is not one of the labels ${JSON.stringify(labels)}` };
    },
    hint: `The answer must be one of the labels. ${MODEL_HINT}`,
    answerTokens: Math.max(...labels.map((label) => estimateTokens(JSON.stringify({ label })))),
  };
}

/** Providers' structured output wants an object at the root: any other schema is asked for as {"value": …}. */
const WRAPPED = 'value';

function extractQuestion(args: Record<string, unknown>): StructuredQuestion<unknown> | null {
  if (args.input === null || args.schema === null) return null;
  const schema = args.schema as Record<string, unknown>;
  const validate = schemaValidator(schema);
  const wrapped = schema.type !== 'object';
  return {
    operator: 'llm_extract',
    system: 'Extract from the input the data that the JSON schema describes. Answer with JSON that matches the schema, and nothing else.',
    prompt: `JSON schema: ${JSON.stringify(wrapped ? objectSchema({ [WRAPPED]: schema }) : schema)}\n\nInput:\n${String(args.input)}`,
    schema: wrapped ? objectSchema({ [WRAPPED]: schema }) : schema,
    strict: false,
    check: (answer): Checked<unknown> => {
      const value = wrapped ? member(answer, WRAPPED) : answer;
      return validate(value) ? { ok: true, value } : { ok: false, problem: `the answer does not match the schema: ${validationProblem(validate)}` };
    },
    hint: `The answer must match the schema. ${MODEL_HINT}`,
    // Data of any size: the model's max_tokens bounds it, if set.
    answerTokens: ANSWER_TOKENS,
  };
}

/** The documents to rank, or null when there is nothing to rank. */
function rerankDocuments(args: Record<string, unknown>): string[] | null {
  if (args.query === null || args.documents === null) return null;
  const documents = textArray(args.documents, 'documents');
  return documents.length === 0 ? null : documents;
}

async function rerank(args: Record<string, unknown>, context: CallContext): Promise<Score[]> {
  const documents = rerankDocuments(args);
  if (documents === null) return [];
  const reranker = rerankModel(args.model);
  if (reranker) return rerankedBy(context, reranker, String(args.query), documents);
  const scores = await structuredAnswer(context, await operatorModel(context, args.model), rerankQuestion(String(args.query), documents));
  return scores.sort((a, b) => b.score - a.score || a.index - b.index);
}

/** What a rerank model is asked, or the chat model: its rerank model's own request is priced by neither. */
async function rerankRequests(args: Record<string, unknown>, context: CallContext): Promise<ModelRequest[]> {
  const documents = rerankDocuments(args);
  if (documents === null) return [];
  if (rerankModel(args.model)) return [{ model: String(args.model), config: {}, input: [String(args.query), ...documents].join('\n'), outputTokens: 0 }];
  return questionRequests(context, args.model, rerankQuestion(String(args.query), documents));
}

function rerankQuestion(query: string, documents: string[]): StructuredQuestion<Score[]> {
  return {
    operator: 'llm_rerank',
    system:
      'Score how relevant each numbered document is to the query, from 0 (not at all) to 1 (exactly what is asked). ' +
      'Answer with JSON: {"scores": [{"index": <the document\'s number>, "score": <0 to 1>}, …]}, one entry per document.',
    prompt: `Query: ${query}\n\nDocuments:\n${documents.map((document, i) => `[${i + 1}] ${document}`).join('\n')}`,
    schema: objectSchema({ scores: { type: 'array', items: objectSchema({ index: { type: 'integer' }, score: { type: 'number' } }) } }),
    check: (answer) => everyDocumentScored(member(answer, 'scores'), documents.length),
    hint: MODEL_HINT,
    answerTokens: estimateTokens(JSON.stringify({ scores: documents.map((_, i) => ({ index: i + 1, score: 0.123 })) })),
  };
}

/** An operator run on its question: null (no call) when the question is. */
function answering<T>(question: (args: Record<string, unknown>) => StructuredQuestion<T> | null) {
  return async (args: Record<string, unknown>, context: CallContext): Promise<T | null> => {
    const asked = question(args);
    return asked === null ? null : structuredAnswer(context, await operatorModel(context, args.model), asked);
  };
}

/** What an operator's call asks of its model, from its question. */
function requesting<T>(question: (args: Record<string, unknown>) => StructuredQuestion<T> | null) {
  return async (args: Record<string, unknown>, context: CallContext): Promise<ModelRequest[]> => {
    const asked = question(args);
    return asked === null ? [] : questionRequests(context, args.model, asked);
  };
}

/** The scores when each document, numbered from 1 as SQL arrays are, has exactly one. */
function everyDocumentScored(scores: unknown, count: number): Checked<Score[]> {
  if (!Array.isArray(scores)) return { ok: false, problem: 'scores is not a list' };
  const seen = new Set<number>();
  for (const entry of scores as Array<Partial<Score>>) {
    const { index, score } = entry ?? {};
    if (!Number.isInteger(index) || index! < 1 || index! > count || seen.has(index!)) return { ok: false, problem: `index ${JSON.stringify(index)} is not the number of a document not yet scored (1 to ${count})` };
    if (typeof score !== 'number' || !Number.isFinite(score)) return { ok: false, problem: `the score of document ${index} is not a number` };
    seen.add(index!);
  }
  if (seen.size < count) return { ok: false, problem: `${count - seen.size} of the ${count} documents have no score` };
  return { ok: true, value: (scores as Score[]).map(({ index, score }) => ({ index, score })) };
}

export const semanticOperatorFunctions = [
  declareFunction({
    name: 'llm_if',
    arguments: [{ name: 'prompt', type: 'text' }, MODEL],
    result: { kind: 'scalar', type: 'boolean' },
    strict: false,
    description: "Whether the model holds the prompt's statement true (for WHERE); NULL for a NULL prompt.",
    run: answering(ifQuestion),
    models: requesting(ifQuestion),
  }),
  declareFunction({
    name: 'llm_classify',
    arguments: [{ name: 'input', type: 'text' }, { name: 'labels', type: 'text[]' }, MODEL],
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: 'The one of the labels the model puts the input under.',
    run: answering(classifyQuestion),
    models: requesting(classifyQuestion),
  }),
  declareFunction({
    name: 'llm_extract',
    arguments: [{ name: 'input', type: 'text' }, { name: 'schema', type: 'jsonb' }, MODEL],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: 'The data the JSON schema describes, extracted from the input by the model and validated against the schema.',
    run: answering(extractQuestion),
    models: requesting(extractQuestion),
  }),
  declareFunction({
    name: 'llm_rerank',
    arguments: [{ name: 'query', type: 'text' }, { name: 'documents', type: 'text[]' }, MODEL],
    result: { kind: 'table', columns: [{ name: 'index', type: 'integer' }, { name: 'score', type: 'double precision' }] },
    strict: false,
    description: "The documents' relevance to the query as scored by the model (or 'cohere:…', 'voyageai:…' rerank model), most relevant first; index counts from 1.",
    run: rerank,
    models: rerankRequests,
  }),
  declareFunction({
    name: 'llm_summarize',
    aggregate: true,
    arguments: [{ name: 'texts', type: 'text' }, MODEL],
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: "An aggregate: one summary of the group's texts by the model, map-reduced over chunks when they exceed its context window; NULL without texts.",
    run: summarize,
    models: summaryRequests,
  }),
];
