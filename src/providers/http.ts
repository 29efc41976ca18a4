// The HTTP settings every SDK client gets from a model config: a total time per request (timeout_ms, which the SDK
// enforces and retries), a separate time to connect (connect_timeout_ms, so an unreachable host fails fast while a
// slow answer may still take long), and retries. Node's built-in fetch has neither a connect timeout of its own nor
// room for answers longer than five minutes, so the SDKs are given undici's fetch with an Agent set accordingly.
// Every request also keeps to the operator's rules: the provider-host policy where the socket opens
// (host-policy.ts), the cap on an answer's size (response-cap.ts, which a model config may only lower; chat answers
// and embeddings have caps of their own), and timeout_ms as a deadline for the whole answer (deadline.ts). A
// connection that fails reads the same to the client whatever happened, naming host and port only: telling a
// closed port from a reset or from a server that speaks something else would let any role map the proxy's
// network; a port of the proxy's own (host-policy.ts) reads as a closed one. The precise cause goes to the proxy's
// own log. A big answer is parsed in a worker thread and reaches the SDK cut down to what its adapter reads
// (answers/answer-body.ts).

import { Agent, fetch } from 'undici';
import { PgError } from '../../proxy/pg-error.js';
import type { HostEntry, ProviderHosts } from '../config.js';
import { answerBody } from './answers/answer-body.js';
import { bytesRequest } from './bytes-request.js';
import { asksForStreamInBytes } from './request-body.js';
import { embeddingsAsked } from './answers/embeddings-asked.js';
import type { AnswerShapes } from './answers/shape.js';
import { currentAsker } from './asker.js';
import { deadline } from './deadline.js';
import { causes, noAnswer, ProviderError } from './errors.js';
import { DocumentHostPolicy, guardedConnector, HostPolicy, HostRefused } from './host-policy.js';
import { providerLog } from './provider-log.js';
import { type AnswerKind, capped, limitAnswersAtOnce } from './response-cap.js';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RETRIES = 2;
/**
 * Any role may register a model, so these are bounded too: one call may not turn into hundreds of requests, nor
 * hold a process-wide model-call slot for days.
 */
const MAX_RETRIES = 10;
const MAX_TIMEOUT_MS = 60 * 60_000;
const MAX_CONNECT_TIMEOUT_MS = 120_000;
/**
 * An SDK parses a whole answer with one JSON.parse on the event loop, which every session shares: 24 MiB of `{},`
 * padding blocked it for 5 s. So answers are capped by what they legitimately need. A chat answer is bounded by
 * max_tokens: with log-probabilities a token takes about 90 bytes of a whole answer and about 380 as a stream
 * chunk, so gpt-4o's most (16,384 tokens) is ~1.4 MiB whole and ~6 MiB streamed, and 8 MiB holds either (a
 * 32k-token stream with log-probabilities needs a raised --max-response-bytes). Only embeddings need more: a full
 * batch of 2048 texts from text-embedding-3-small (1536 dimensions) in OpenAI's float JSON is about 91 MiB.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 ** 2;
export const DEFAULT_MAX_EMBEDDING_RESPONSE_BYTES = 128 * 1024 ** 2;
/**
 * How long a provider's connection may stay open unused, whatever its server asks for: undici keeps one as long as
 * a server's "Keep-Alive: timeout=N" says, up to 10 minutes, and every model instance and pgai call's settings has a
 * client (and connections) of its own, so a role's server asking for 600 s while the role called it under ever new
 * settings left one open socket a call, 160 a second, until the proxy had no file descriptor left for any session.
 */
export const KEEP_ALIVE = { keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 };

const operator = {
  maxBytes: { chat: DEFAULT_MAX_RESPONSE_BYTES, embedding: DEFAULT_MAX_EMBEDDING_RESPONSE_BYTES } as Record<AnswerKind, number>,
  hosts: new HostPolicy({ allow: [], deny: [] }),
  documentHosts: new DocumentHostPolicy((): HostPolicy => operator.hosts, []),
};
limitAnswersAtOnce(DEFAULT_MAX_EMBEDDING_RESPONSE_BYTES);

/**
 * The operator's settings (--max-response-bytes for chat answers, --max-embedding-response-bytes,
 * --provider-hosts-*, --document-hosts-allow); defaults for those not given.
 */
export function configureProviderHttp(settings: { maxResponseBytes?: number; maxEmbeddingResponseBytes?: number; hosts?: ProviderHosts; documentHosts?: HostEntry[] }): void {
  operator.maxBytes = {
    chat: settings.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    embedding: settings.maxEmbeddingResponseBytes ?? DEFAULT_MAX_EMBEDDING_RESPONSE_BYTES,
  };
  limitAnswersAtOnce(Math.max(operator.maxBytes.chat, operator.maxBytes.embedding));
  operator.hosts = new HostPolicy(settings.hosts ?? { allow: [], deny: [] });
  operator.documentHosts = new DocumentHostPolicy(() => operator.hosts, settings.documentHosts ?? []);
}

/** Where a document a role names may be fetched from: the provider-host policy, internal addresses only where --document-hosts-allow names them. */
export function documentHostPolicy(): DocumentHostPolicy {
  return operator.documentHosts;
}

/** The operator's cap on one chat answer (--max-response-bytes), which caps any other body read whole too. */
export function maxResponseBytes(): number {
  return operator.maxBytes.chat;
}

/**
 * The cap on one answer of `kind` from a model, as it is when asked: the operator's, lowered by the model config's
 * max_response_bytes (checked now, as the model is set up).
 */
export function answerCap(config: Record<string, unknown>, kind: AnswerKind): () => number {
  const modelMaxBytes = whole(config, 'max_response_bytes', Infinity, 1, Infinity);
  return () => Math.min(operator.maxBytes[kind], modelMaxBytes);
}

export interface HttpSettings {
  timeout: number;
  maxRetries: number;
  fetch: typeof globalThis.fetch;
}

/**
 * The settings of an SDK client that asks for one kind of answer, which decides the cap on its size, and whose
 * adapter reads the parts of its answers that `shapes` describe; without shapes, the caller reads the answers itself
 * (answers/json-answer.ts).
 */
export function httpSettings(config: Record<string, unknown>, instance: string, kind: AnswerKind, shapes?: AnswerShapes): HttpSettings {
  const timeout = whole(config, 'timeout_ms', DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  const connectTimeout = whole(config, 'connect_timeout_ms', DEFAULT_CONNECT_TIMEOUT_MS, 1, MAX_CONNECT_TIMEOUT_MS);
  const maxRetries = whole(config, 'max_retries', DEFAULT_MAX_RETRIES, 0, MAX_RETRIES);
  const cap = answerCap(config, kind);
  const dispatcher = new Agent({ connect: guardedConnector(connectTimeout, () => operator.hosts), headersTimeout: timeout, bodyTimeout: timeout, ...KEEP_ALIVE });
  const agentFetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    if (carriesUserInfo(input)) throw new UserInfoInUrl();
    const clock = deadline(init?.signal, timeout);
    try {
      // A provider's API does not redirect; one that does would carry the request's key headers on (fetch drops only
      // Authorization across origins) to a server no one named. Its 3xx is the caller's error, as any other status.
      const response = init?.body instanceof Uint8Array
        ? await bytesRequest(requestUrl(input), { ...init, body: init.body }, clock.signal, dispatcher)
        : await fetch(input, { ...init, redirect: 'manual', signal: clock.signal, dispatcher });
      const refused = noAnswer(response.status);
      if (refused) {
        await response.body?.cancel();
        throw refused;
      }
      const asker = currentAsker();
      const body = capped(response, cap(), kind, asker, clock.clear);
      const asked = embeddingsAsked();
      return answerBody(body, { ...(shapes && { shapes }), kind, asker, streamed: asksForStream(init?.body), ...(asked ? { asked } : {}) });
    } catch (error) {
      clock.clear();
      // The proxy's own verdict on what the provider answered, not a failure to reach it.
      if (error instanceof ProviderError) throw error;
      // An abort is the caller's cancel or the SDK's own timeout, which the SDK tells apart itself.
      if (init?.signal?.aborted) throw error;
      if (clock.signal.aborted) throw clock.signal.reason;
      const host = hostAndPort(input);
      if (causes(error).some((cause) => cause instanceof HostRefused)) throw new HostRefused(host);
      const cause = causes(error).at(-1) as { code?: string; message?: string; name?: string };
      // A system error's text names the address and what failed there; fetch's own (a TypeError, no code) quotes the
      // request, a header's value included, which may be a key.
      providerLog().warn({ model_instance: instance, host, code: cause.code, err: cause.code === undefined ? cause.name : cause.message }, 'could not reach the model provider');
      throw new ProviderError(`could not reach provider at ${host}`, 'Check base_url and the network; connect_timeout_ms in the model config bounds each attempt to connect.');
    }
  };
  return { timeout, maxRetries, fetch: agentFetch as unknown as typeof globalThis.fetch };
}

/**
 * Whether the SDK will read the answer as server-sent events: the SDKs put `"stream":true` at the top of the body
 * (and a body written in a thread says so where it was written). Inside a JSON string every quote is escaped, so only a key can match; a nested key that does (in a JSON schema,
 * say) makes a whole answer read as events, which then fails rather than reaching a JSON.parse unparsed.
 */
function asksForStream(body: unknown): boolean {
  if (body instanceof Uint8Array) return asksForStreamInBytes(body);
  return typeof body === 'string' && body.includes('"stream":true');
}

function requestUrl(input: Parameters<typeof fetch>[0]): URL {
  return new URL(typeof input === 'object' && 'url' in input ? input.url : String(input));
}

/** host:port of the request, never its path or query, which may carry a key. */
function hostAndPort(input: Parameters<typeof fetch>[0]): string {
  const url = requestUrl(input);
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
}

/**
 * A base_url may be written http://user:password@host. fetch refuses such a URL, quoting it whole in its error, so
 * the password would reach the log on every call, and the request could never be made: the proxy says so at once.
 */
class UserInfoInUrl extends PgError {
  constructor() {
    super('22023', "the model's base_url holds a user name or password (user:password@host), which the proxy never sends", {
      hint: "Remove them from base_url: the provider's key goes in api_key.",
    });
  }
}

function carriesUserInfo(input: Parameters<typeof fetch>[0]): boolean {
  const url = requestUrl(input);
  return url.username !== '' || url.password !== '';
}

function whole(config: Record<string, unknown>, key: string, fallback: number, minimum: number, maximum: number): number {
  const value = config[key];
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum || number > maximum) {
    const range = maximum === Infinity ? `at least ${minimum}` : `from ${minimum} to ${maximum}`;
    throw new PgError('22023', `invalid model config: ${key} must be a whole number ${range}`);
  }
  return number;
}
