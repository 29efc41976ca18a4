// The batch APIs of the fake provider (fake-provider.ts): OpenAI's (a JSONL file uploaded to /v1/files, then
// /v1/batches, its results a file read from /v1/files/{id}/content) and Anthropic's (/v1/messages/batches, its
// results JSON lines at its results_url). A batch stays in progress, however often it is looked at, until the test
// ends it: each request then gets the answer `answer` makes of its last message, or fails with the message of an
// Error it returns. An OpenAI batch of embeddings requests (/v1/embeddings) is answered as the fake's embeddings
// endpoint answers, its requests' inputs, a line each, standing for the message.

import type http from 'node:http';
import { embeddingsAnswer } from './fake-provider.js';

export interface FakeBatch {
  id: string;
  api: 'openai' | 'anthropic';
  /** The endpoint of an OpenAI batch's requests. */
  endpoint?: string;
  /** custom_id and request body of each request, in the order submitted. */
  requests: Array<{ customId: string; body: Record<string, any> }>;
  /** How often the batch was looked at. */
  polls: number;
  /** Set by end(): each request's answer, or the error it failed with. */
  outcomes?: Map<string, string | Error>;
  /** The metadata an OpenAI batch was created with, returned as it is whenever it is looked at. */
  metadata?: Record<string, string>;
  /** A batch that failed as a whole (OpenAI's status 'failed', or 'expired'), ended with fail(). */
  failed?: 'failed' | 'expired';
  /** What the provider says of the failure of a batch failed whole. */
  reason?: string;
}

export class FakeBatches {
  readonly all: FakeBatch[] = [];
  /** While set, a batch being created is answered only once it settles. */
  hold: Promise<void> | undefined;
  private readonly files = new Map<string, string>();
  private next = 1;

  /** Ends the batch: each request answered from its last message, or failed where `answer` returns an Error. */
  end(batch: FakeBatch, answer: (prompt: string) => string | Error = (prompt) => `answer to: ${prompt}`): void {
    const prompt = (body: Record<string, any>): string =>
      batch.endpoint === '/v1/embeddings' ? ([] as string[]).concat(body.input as string[]).join('\n') : String((body.messages as Array<{ content: string }>).at(-1)!.content);
    batch.outcomes = new Map(batch.requests.map(({ customId, body }) => [customId, answer(prompt(body))]));
  }

  fail(batch: FakeBatch, status: 'failed' | 'expired' = 'failed', reason = 'the input file could not be read'): void {
    batch.failed = status;
    batch.reason = reason;
  }

  /** Answers a request of a batch API; false when the request is not one. */
  handle(method: string, path: string, raw: string, origin: string, response: http.ServerResponse): boolean {
    let match: RegExpExecArray | null;
    if (method === 'POST' && path === '/v1/files') {
      const id = `file-${this.next++}`;
      // The upload is multipart: its JSONL part is the lines that are JSON objects with a custom_id.
      this.files.set(id, raw.split(/\r?\n/).filter((line) => line.startsWith('{"custom_id"')).join('\n'));
      json(response, { id, object: 'file', bytes: raw.length, created_at: 1, filename: 'jobs.jsonl', purpose: 'batch', status: 'processed' });
    } else if (method === 'POST' && path === '/v1/batches') {
      const body = JSON.parse(raw) as { input_file_id: string; endpoint: string; metadata?: Record<string, string> };
      const lines = (this.files.get(body.input_file_id) ?? '').split('\n').filter((line) => line !== '');
      const requests = lines.map((line) => JSON.parse(line) as { custom_id: string; body: Record<string, any> }).map((line) => ({ customId: line.custom_id, body: line.body }));
      void (this.hold ?? Promise.resolve()).then(() => {
        if (response.destroyed) return;
        const batch = this.add('openai', requests, body.endpoint);
        if (body.metadata) batch.metadata = body.metadata;
        json(response, this.openAiBatch(batch));
      });
    } else if (method === 'GET' && (match = /^\/v1\/batches\/([\w-]+)$/.exec(path))) {
      const batch = this.find(match[1]!);
      if (!batch) return notFound(response);
      batch.polls++;
      json(response, this.openAiBatch(batch));
    } else if (method === 'GET' && (match = /^\/v1\/files\/file-(out|err)-([\w-]+)\/content$/.exec(path))) {
      const batch = this.find(match[2]!);
      if (!batch?.outcomes) return notFound(response);
      const failed = match[1] === 'err';
      const lines = [...batch.outcomes].filter(([, outcome]) => outcome instanceof Error === failed).map(([customId, outcome]) =>
        outcome instanceof Error
          ? { id: 'r', custom_id: customId, response: { status_code: 400, request_id: 'q', body: { error: { message: outcome.message, type: 'invalid_request_error' } } }, error: null }
          : { id: 'r', custom_id: customId, response: { status_code: 200, request_id: 'q', body: batch.endpoint === '/v1/embeddings' ? embeddingsAnswer(body(batch, customId)) : completion(batch, customId, outcome) }, error: null },
      );
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    } else if (method === 'POST' && path === '/v1/messages/batches') {
      const body = JSON.parse(raw) as { requests: Array<{ custom_id: string; params: Record<string, any> }> };
      // Anthropic's rule for a custom_id.
      if (!body.requests.every((request) => /^[a-zA-Z0-9_-]{1,64}$/.test(request.custom_id))) return invalid(response, 'requests.custom_id: must match ^[a-zA-Z0-9_-]{1,64}$');
      json(response, this.anthropicBatch(this.add('anthropic', body.requests.map((request) => ({ customId: request.custom_id, body: request.params }))), origin));
    } else if (method === 'GET' && (match = /^\/v1\/messages\/batches\/([\w-]+)$/.exec(path))) {
      const batch = this.find(match[1]!);
      if (!batch) return notFound(response);
      batch.polls++;
      json(response, this.anthropicBatch(batch, origin));
    } else if (method === 'GET' && (match = /^\/v1\/messages\/batches\/([\w-]+)\/results$/.exec(path))) {
      const batch = this.find(match[1]!);
      if (!batch?.outcomes) return notFound(response);
      const lines = [...batch.outcomes].map(([customId, outcome]) =>
        outcome instanceof Error
          ? { custom_id: customId, result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: outcome.message } } } }
          : {
              custom_id: customId,
              result: { type: 'succeeded', message: { id: 'msg', type: 'message', role: 'assistant', model: 'claude-test', content: [{ type: 'text', text: outcome }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 7, output_tokens: 3 } } },
            },
      );
      response.writeHead(200, { 'content-type': 'application/binary' });
      response.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    } else {
      return false;
    }
    return true;
  }

  private add(api: FakeBatch['api'], requests: FakeBatch['requests'], endpoint?: string): FakeBatch {
    const batch: FakeBatch = { id: `${api === 'openai' ? 'batch' : 'msgbatch'}_${this.next++}`, api, ...(endpoint ? { endpoint } : {}), requests, polls: 0 };
    this.all.push(batch);
    return batch;
  }

  private find(id: string): FakeBatch | undefined {
    return this.all.find((batch) => batch.id === id);
  }

  private openAiBatch(batch: FakeBatch): Record<string, unknown> {
    const failures = [...(batch.outcomes?.values() ?? [])].filter((outcome) => outcome instanceof Error).length;
    const status = batch.failed ?? (batch.outcomes ? 'completed' : 'in_progress');
    return {
      id: batch.id,
      object: 'batch',
      endpoint: batch.endpoint ?? '/v1/chat/completions',
      input_file_id: 'file-in',
      completion_window: '24h',
      status,
      created_at: 1,
      output_file_id: status === 'completed' ? `file-out-${batch.id}` : null,
      error_file_id: status === 'completed' && failures > 0 ? `file-err-${batch.id}` : null,
      errors: batch.failed ? { object: 'list', data: [{ code: 'invalid_file', message: batch.reason }] } : null,
      request_counts: { total: batch.requests.length, completed: batch.outcomes ? batch.requests.length - failures : 0, failed: failures },
      metadata: batch.metadata ?? null,
    };
  }

  private anthropicBatch(batch: FakeBatch, origin: string): Record<string, unknown> {
    const ended = batch.outcomes !== undefined;
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: ended ? 'ended' : 'in_progress',
      request_counts: { processing: ended ? 0 : batch.requests.length, succeeded: ended ? batch.requests.length : 0, errored: 0, canceled: 0, expired: 0 },
      ended_at: null,
      created_at: '2024-01-01T00:00:00Z',
      expires_at: '2024-01-02T00:00:00Z',
      archived_at: null,
      cancel_initiated_at: null,
      results_url: ended ? `${origin}/v1/messages/batches/${batch.id}/results` : null,
    };
  }
}

/** The body of the batch's request. */
function body(batch: FakeBatch, customId: string): Record<string, any> {
  return batch.requests.find((request) => request.customId === customId)?.body ?? {};
}

function completion(batch: FakeBatch, customId: string, content: string): Record<string, unknown> {
  const model = String(body(batch, customId).model ?? 'fake-model');
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  };
}

function json(response: http.ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function invalid(response: http.ServerResponse, message: string): true {
  response.writeHead(400, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message } }));
  return true;
}

function notFound(response: http.ServerResponse): true {
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ error: { message: 'no such batch or file', type: 'not_found_error' } }));
  return true;
}
