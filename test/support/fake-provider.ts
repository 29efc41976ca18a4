// A fake model provider on loopback, so the real SDK adapters are tested over HTTP: it answers OpenAI's chat
// completions, embeddings, models and moderations and, on /v1/messages, Anthropic's Messages API; both batch APIs
// (fake-batches.ts); for pgai's
// functions also Ollama's API (/api/…), Cohere's (/v2/embed, /v2/rerank), and Voyage AI's embeddings, which have
// OpenAI's shape. Each request takes the next scripted
// behaviour (an answer, a stream, one paced by its reader, an HTTP error, garbage, a stall, a connection reset
// mid-stream, an answer of any size, the prompt padded to a size), and is recorded.
// Embeddings are computed from each input (its length, then its character codes), so tests can check their order.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeBatches } from './fake-batches.js';

export type Behaviour =
  | { kind: 'answer'; content: string; model?: string; logprobs?: number[]; completionTokens?: number }
  /**
   * `hold`: once its chunks are sent, the stream ends only when this settles. `honoursMaxTokens`: a chunk a token,
   * no more than the request's max_tokens (else all of them, whatever it asks).
   */
  | { kind: 'stream'; chunks: string[]; delayMs?: number; logprobs?: number[]; hold?: Promise<void>; honoursMaxTokens?: boolean }
  | { kind: 'reset'; chunks: string[] }
  /** `code` and `param`: as OpenAI's error answers name them (code unsupported_parameter, param logprobs). */
  | { kind: 'error'; status: number; message: string; retryAfter?: string; code?: string; param?: string }
  | { kind: 'garbage' }
  /** This JSON text as the answer, whatever the path (a chat completion, a model list, embeddings…), with this status (200) and headers. */
  | { kind: 'body'; json: string | Buffer; status?: number; headers?: Record<string, string> }
  | { kind: 'stall' }
  /** A chat answer whose content is `bytes` long, written in chunks as the client reads, never held whole. */
  | { kind: 'huge'; bytes: number }
  /** A chat answer of `bytes` characters: the prompt, then dots, so each call's answer tells which call it was. */
  | { kind: 'padded'; bytes: number }
  /**
   * A chat answer made from the request's messages after `delayMs`, and once `hold` settles: for many calls answered
   * alike, in any order, or all held in flight together.
   */
  | { kind: 'reply'; answer: (messages: Array<{ role: string; content: string }>) => string; delayMs?: number; hold?: Promise<void> }
  | Flow;

/**
 * A stream of `count` chunks (Infinity: until the client goes away), "1 ", "2 "… each padded with x to `chunkBytes`,
 * written as fast as the client takes them, or `delayMs` apart; `sent` on the request counts those written.
 */
export interface Flow {
  kind: 'flow';
  count: number;
  delayMs?: number;
  chunkBytes?: number;
}

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  /** Azure's api-key header. */
  apiKeyHeader: string | undefined;
  headers: http.IncomingHttpHeaders;
  method: string;
  body: Record<string, unknown>;
  /** Set when the client went away before the answer was complete. */
  aborted: boolean;
  /** The chunks of a 'flow' written so far. */
  sent: number;
}

export interface FakeProvider {
  baseUrl: string;
  requests: RecordedRequest[];
  script(...behaviours: Behaviour[]): void;
  /** Drops the behaviours scripted and not taken by a request yet. */
  unscript(): void;
  /** The batches submitted to its batch APIs, which the test ends (fake-batches.ts). */
  batches: FakeBatches;
  /** The most requests that were open (received, not yet answered) at once; set to 0 to measure anew. */
  mostAtOnce: number;
  close(): Promise<void>;
}

export interface FakeProviderOptions {
  /** How long an embeddings answer takes: a model's latency, for the benchmark. */
  embeddingDelayMs?: number;
}

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const queue: Behaviour[] = [];
  const batches = new FakeBatches();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let open = 0;
  let mostAtOnce = 0;
  const server = http.createServer((request, response) => {
    mostAtOnce = Math.max(mostAtOnce, ++open);
    response.on('close', () => open--);
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      const recorded: RecordedRequest = {
        path: request.url ?? '',
        authorization: request.headers.authorization,
        apiKeyHeader: request.headers['api-key'] as string | undefined,
        headers: request.headers,
        method: request.method ?? 'GET',
        body: jsonBody(raw),
        aborted: false,
        sent: 0,
      };
      requests.push(recorded);
      response.on('close', () => (recorded.aborted ||= !response.writableFinished));
      const path = recorded.path.split('?')[0]!;
      if (batches.handle(recorded.method, path, raw, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, response)) return;
      const behaviour = queue.shift() ?? { kind: 'answer', content: 'default answer' };
      if (behaviour.kind === 'body') response.writeHead(behaviour.status ?? 200, { 'content-type': 'application/json', ...behaviour.headers }).end(behaviour.json);
      else if (path.startsWith('/v1/messages')) respondAsAnthropic(behaviour, recorded, response);
      else if (behaviour.kind === 'answer' && OTHER_APIS[path]) json(response, 200, OTHER_APIS[path]!(recorded.body));
      else if (path.endsWith('/embeddings') && behaviour.kind === 'answer') later(options.embeddingDelayMs, () => embeddings(recorded, response));
      else respond(behaviour, recorded, response);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    batches,
    script: (...behaviours) => void queue.push(...behaviours),
    unscript: () => void queue.splice(0),
    get mostAtOnce() {
      return mostAtOnce;
    },
    set mostAtOnce(value: number) {
      mostAtOnce = value;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** JSON.parse as it is when the fake starts: tests that watch the proxy's own parsing (json-parsed-on-event-loop.ts) do not count the fake's. */
const parseJson = JSON.parse;

/** A request's JSON body; {} for none, or for one that is not JSON (a file upload). */
function jsonBody(raw: string): Record<string, unknown> {
  try {
    return parseJson(raw || '{}') as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Runs `work` after `ms`, or now when there is no delay. */
function later(ms: number | undefined, work: () => void): void {
  if (ms) setTimeout(work, ms);
  else work();
}

function respond(behaviour: Behaviour, request: RecordedRequest, response: http.ServerResponse): void {
  const model = String(request.body.model ?? 'fake-model');
  switch (behaviour.kind) {
    case 'answer':
      return json(response, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: behaviour.model ?? model,
        choices: [{ index: 0, message: { role: 'assistant', content: behaviour.content }, finish_reason: 'stop', logprobs: tokenLogprobs(behaviour.logprobs) }],
        usage: { prompt_tokens: 7, completion_tokens: behaviour.completionTokens ?? 3, total_tokens: 7 + (behaviour.completionTokens ?? 3) },
      });
    case 'stream': {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const limit = request.body.max_tokens;
      const chunks = behaviour.honoursMaxTokens && typeof limit === 'number' ? behaviour.chunks.slice(0, limit) : behaviour.chunks;
      const events = [
        ...chunks.map((content, i) => ({
          id: 'c',
          object: 'chat.completion.chunk',
          created: 1,
          model,
          choices: [{ index: 0, delta: { content }, finish_reason: null, logprobs: tokenLogprobs(behaviour.logprobs?.slice(i, i + 1)) }],
        })),
        { id: 'c', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: chunks.length, total_tokens: 5 + chunks.length } },
      ];
      const send = (index: number): void => {
        if (response.destroyed) return;
        if (index === events.length) return void response.end('data: [DONE]\n\n');
        response.write(`data: ${JSON.stringify(events[index])}\n\n`);
        const next = (): void => void setTimeout(() => send(index + 1), behaviour.delayMs ?? 0);
        if (index === chunks.length - 1 && behaviour.hold) void behaviour.hold.then(next);
        else next();
      };
      return send(0);
    }
    case 'reset': {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const content of behaviour.chunks) {
        response.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`);
      }
      return void setTimeout(() => response.socket?.resetAndDestroy(), 20);
    }
    case 'error':
      return json(
        response,
        behaviour.status,
        { error: { message: behaviour.message, type: 'fake_error', code: behaviour.code ?? null, param: behaviour.param ?? null } },
        behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {},
      );
    case 'garbage':
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end('{"choices": [ this is not json');
    case 'stall':
      return;
    case 'huge':
      return huge(behaviour.bytes, model, response);
    case 'flow': {
      const event = (delta: Record<string, unknown>[], usage?: Record<string, number>) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model, choices: delta, ...(usage ? { usage } : {}) })}\n\n`;
      return flow(behaviour, request, response, {
        first: '',
        chunk: (content) => event([{ index: 0, delta: { content }, finish_reason: null }]),
        last: () => `${event([], { prompt_tokens: 5, completion_tokens: request.sent, total_tokens: 5 + request.sent })}data: [DONE]\n\n`,
      });
    }
    case 'reply': {
      const messages = request.body.messages as Array<{ role: string; content: string }>;
      const answer = (): void => void setTimeout(() => response.destroyed || respond({ kind: 'answer', content: behaviour.answer(messages) }, request, response), behaviour.delayMs ?? 0);
      return void (behaviour.hold ? behaviour.hold.then(answer) : answer());
    }
    case 'padded': {
      const messages = request.body.messages as Array<{ content: string }>;
      return respond({ kind: 'answer', content: messages.at(-1)!.content.padEnd(behaviour.bytes, '.') }, request, response);
    }
  }
}

/** Writes `first`, then each chunk of the flow when the client has taken the ones before, then `last`. */
function flow(behaviour: Flow, request: RecordedRequest, response: http.ServerResponse, frames: { first: string; chunk: (text: string) => string; last: () => string }): void {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.write(frames.first);
  const next = (): void => {
    while (!response.destroyed) {
      if (request.sent === behaviour.count) return void response.end(frames.last());
      request.sent++;
      if (!response.write(frames.chunk(`${request.sent} `.padEnd(behaviour.chunkBytes ?? 0, 'x')))) return void response.once('drain', next);
      if (behaviour.delayMs) return void setTimeout(next, behaviour.delayMs);
    }
  };
  next();
}

function huge(bytes: number, model: string, response: http.ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.write(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"${model}","choices":[{"index":0,"message":{"role":"assistant","content":"`);
  const chunk = Buffer.alloc(1024 ** 2, 'a');
  let left = bytes;
  const write = (): void => {
    while (left > 0 && !response.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!response.write(piece)) return void response.once('drain', write);
    }
    if (!response.destroyed) response.end('"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}');
  };
  write();
}

function respondAsAnthropic(behaviour: Behaviour, request: RecordedRequest, response: http.ServerResponse): void {
  const model = String(request.body.model ?? 'fake-model');
  switch (behaviour.kind) {
    case 'answer':
      return json(response, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: behaviour.model ?? model,
        content: [{ type: 'text', text: behaviour.content }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 7, output_tokens: 3 },
      });
    case 'stream': {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = anthropicEvents(model);
      return void response.end(events.first + behaviour.chunks.map(events.chunk).join('') + events.last(behaviour.chunks.length));
    }
    case 'flow': {
      const events = anthropicEvents(model);
      return flow(behaviour, request, response, { ...events, last: () => events.last(request.sent) });
    }
    case 'error':
      return json(response, behaviour.status, { type: 'error', error: { type: 'api_error', message: behaviour.message } }, behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {});
    default:
      return respond(behaviour, request, response);
  }
}

/** The server-sent events of a streamed Anthropic message: those before its text, one per piece of it, and the rest. */
function anthropicEvents(model: string) {
  const event = (body: Record<string, unknown>): string => `event: ${String(body.type)}\ndata: ${JSON.stringify(body)}\n\n`;
  return {
    first: [
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 0 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ].map(event).join(''),
    chunk: (text: string) => event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    last: (outputTokens: number) => [
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } },
      { type: 'message_stop' },
    ].map(event).join(''),
  };
}

function tokenLogprobs(logprobs: number[] | undefined): { content: Array<{ token: string; logprob: number; bytes: null; top_logprobs: [] }> } | null {
  return logprobs ? { content: logprobs.map((logprob) => ({ token: 't', logprob, bytes: null, top_logprobs: [] })) } : null;
}

/** The fake's embedding of a text: its length, then the codes of its first three characters. */
export function fakeEmbedding(text: string): number[] {
  return [text.length, ...[...text].slice(0, 3).map((c) => c.charCodeAt(0))];
}

function embeddings(request: RecordedRequest, response: http.ServerResponse): void {
  json(response, 200, embeddingsAnswer(request.body));
}

/** The answer to an embeddings request's body (also a batch's, fake-batches.ts): two tokens an input. */
export function embeddingsAnswer(body: Record<string, any>): Record<string, unknown> {
  // A list of tokens (pgai's openai_embed of int[]) is one input.
  const input = body.input as string | string[] | number[];
  const inputs = Array.isArray(input) && typeof input[0] === 'number' ? [`tokens ${input.join(' ')}`] : ([] as string[]).concat(input as string | string[]);
  return {
    object: 'list',
    model: String(body.model),
    // Listed last to first, with their indexes, as the API allows: the client must order them.
    data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: encoded(sized(fakeEmbedding(text), body.dimensions), body.encoding_format) })).reverse(),
    usage: { prompt_tokens: inputs.length * 2, total_tokens: inputs.length * 2 },
  };
}

/** As OpenAI answers `dimensions`: that many numbers (here the fake's, then zeros). */
function sized(vector: number[], dimensions: unknown): number[] {
  if (typeof dimensions !== 'number') return vector;
  return Array.from({ length: dimensions }, (_, index) => vector[index] ?? 0);
}

/** OpenAI's base64 embedding, little-endian float32, when asked for; else the numbers. */
function encoded(vector: number[], format: unknown): number[] | string {
  return format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
}

/** A relevance score of a document for a query: the share of the query's words it has, its length breaking ties. */
export function fakeRelevance(query: string, document: string): number {
  const words = query.toLowerCase().split(/\s+/);
  return words.filter((word) => document.toLowerCase().includes(word)).length / words.length + document.length / 1e6;
}

type Body = Record<string, any>;

/** The answers of the APIs whose requests the fake answers the same whatever is scripted (unless an error is). */
const OTHER_APIS: Record<string, (body: Body) => unknown> = {
  // OpenAI's and Anthropic's model lists at once: each model has both APIs' fields.
  '/v1/models': () => ({
    object: 'list',
    data: [
      { id: 'gpt-test', object: 'model', created: 1_700_000_000, owned_by: 'fake', type: 'model', display_name: 'GPT Test', created_at: '2023-11-14T22:13:20Z' },
      { id: 'embed-test', object: 'model', created: 1_600_000_000, owned_by: 'system', type: 'model', display_name: 'Embed Test', created_at: '2020-09-13T12:26:40Z' },
    ],
    has_more: false,
  }),
  '/v1/rerank': (body) => {
    const documents = body.documents as string[];
    const ranked = documents.map((_, index) => ({ index, relevance_score: fakeRelevance(String(body.query), documents[index]!) })).sort((a, b) => b.relevance_score - a.relevance_score);
    return { object: 'list', data: ranked.slice(0, body.top_k ?? ranked.length), model: body.model, usage: { total_tokens: 9 } };
  },
  '/api/ps': () => ({
    models: [
      {
        name: 'llama3:latest',
        model: 'llama3:latest',
        size: 5_137_025_024,
        digest: 'abc123',
        details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '8.0B', quantization_level: 'Q4_0' },
        expires_at: '2024-06-04T14:38:31Z',
        size_vram: 5_137_025_024,
      },
    ],
  }),
  '/v1/moderations': (body) => ({
    id: 'modr-1',
    model: body.model,
    results: [{ flagged: String(body.input).includes('kill'), categories: { violence: String(body.input).includes('kill') }, category_scores: { violence: 0.5 } }],
  }),
  '/api/embeddings': (body) => ({ embedding: fakeEmbedding(String(body.prompt)) }),
  '/api/generate': (body) => ({ model: body.model, created_at: '2024-01-01T00:00:00Z', response: `generated: ${String(body.prompt)}`, done: true, done_reason: 'stop', context: [1, 2, 3], prompt_eval_count: 4, eval_count: 5 }),
  '/api/chat': (body) => ({
    model: body.model,
    created_at: '2024-01-01T00:00:00Z',
    message: { role: 'assistant', content: `chat: ${String((body.messages as Body[]).at(-1)?.content)}` },
    done: true,
    prompt_eval_count: 6,
    eval_count: 2,
  }),
  '/api/tags': () => ({
    models: [
      {
        name: 'llama3:latest',
        model: 'llama3:latest',
        modified_at: '2024-05-01T10:00:00Z',
        size: 4_661_224_676,
        digest: 'abc123',
        details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '8.0B', quantization_level: 'Q4_0' },
      },
    ],
  }),
  '/v2/embed': (body) => ({
    id: 'embed-1',
    texts: body.texts,
    embeddings: { float: (body.texts as string[]).map(fakeEmbedding) },
    meta: { billed_units: { input_tokens: (body.texts as string[]).length * 3 } },
  }),
  '/v2/rerank': (body) => {
    const documents = body.documents as string[];
    const ranked = documents.map((document, index) => ({ index, relevance_score: fakeRelevance(String(body.query), document) })).sort((a, b) => b.relevance_score - a.relevance_score);
    return { id: 'rerank-1', results: ranked.slice(0, body.top_n ?? ranked.length), meta: { billed_units: { search_units: 1 } } };
  },
};

function json(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
