// An operator's answer in a shape it can check: asked for with a JSON schema (structured output where the provider
// has it), read by the operator's own check, asked once more (with the model's first answer and what was wrong with
// it) when it does not conform, and an error after that. The second request differs from the first, so the response
// cache cannot hand back the same wrong answer.

import { PgError } from '../proxy/pg-error.js';
import { chatOptions, parseJsonAnswer } from '../src/providers/options.js';
import type { CallContext, ModelRequest } from './declaration.js';
import { DEFAULT_INSTANCE } from './default-model.js';
import { askOperator, auditOperator, operatorModel, type OperatorAnswer, type OperatorModel } from './operator-model.js';

/** SQLSTATE of an answer that is still not what was asked for after the retry: pg_ai_query's provider failure. */
export const NONCONFORMING_ANSWER = '39001';
/** How much of a wrong answer the error's detail quotes. */
const QUOTED_CHARACTERS = 200;

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface StructuredQuestion<T> {
  /** The function's name: the audit row's event type and the error's subject. */
  operator: string;
  system: string;
  prompt: string;
  /** The JSON schema of the answer (an object at its root, as providers' structured output requires). */
  schema: Record<string, unknown>;
  /** false: the schema is beyond what providers enforce, and only guides the answer (see ResponseFormat). */
  strict?: boolean;
  check: (answer: unknown) => Checked<T>;
  /** What to do when the second answer does not conform either. */
  hint: string;
  /** About how many tokens a conforming answer takes, for estimates made before asking. */
  answerTokens: number;
}

/**
 * What asking the question would ask of the operator's model (`named`: its model argument): one request, the
 * first; a second only follows an answer that does not conform.
 */
export async function questionRequests<T>(context: CallContext, named: unknown, question: StructuredQuestion<T>): Promise<ModelRequest[]> {
  const model = await operatorModel(context, named);
  const { maxTokens } = chatOptions(model.config);
  const input = [question.system, question.prompt, JSON.stringify(question.schema)].join('\n');
  return [{ model: model.instanceName ?? DEFAULT_INSTANCE, config: model.config, input, outputTokens: Math.min(question.answerTokens, maxTokens ?? Number.POSITIVE_INFINITY) }];
}

export async function structuredAnswer<T>(context: CallContext, model: OperatorModel, question: StructuredQuestion<T>): Promise<T> {
  const format = { type: 'json_schema' as const, name: question.operator, schema: question.schema, ...(question.strict === false ? { strict: false } : {}) };
  const first = await askOperator(context, model, { system: question.system, prompt: question.prompt, format });
  const firstCheck = checked(question, first);
  if (firstCheck.ok) return accepted(context, model, question, first, firstCheck.value, 1);
  const retry = `Your answer did not conform: ${firstCheck.problem}. Answer again with JSON that matches the schema ${JSON.stringify(question.schema)}.`;
  const history = [
    { role: 'user' as const, content: question.prompt },
    { role: 'assistant' as const, content: first.result.text },
  ];
  const second = await askOperator(context, model, { system: question.system, prompt: retry, history, format });
  const secondCheck = checked(question, second);
  if (secondCheck.ok) return accepted(context, model, question, second, secondCheck.value, 2);
  throw new PgError(NONCONFORMING_ANSWER, `${question.operator}: the model's answer did not conform, twice: ${secondCheck.problem}`, {
    detail: `The last answer began: ${second.result.text.slice(0, QUOTED_CHARACTERS)}`,
    hint: question.hint,
  });
}

function checked<T>(question: StructuredQuestion<T>, answer: OperatorAnswer): Checked<T> {
  return question.check(parsedJson(answer.result.text));
}

async function accepted<T>(context: CallContext, model: OperatorModel, question: StructuredQuestion<T>, answer: OperatorAnswer, value: T, attempts: number): Promise<T> {
  await auditOperator(context, question.operator, model, answer, attempts > 1 ? { attempts } : {});
  return value;
}

/** The answer as JSON, a markdown fence forgiven; text that is not JSON (nor JSON within limits) stays the string it is. */
function parsedJson(text: string): unknown {
  try {
    return parseJsonAnswer(text);
  } catch {
    return text;
  }
}
