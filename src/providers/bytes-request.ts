// A request whose body is bytes written in a thread (request-body.ts: megabytes of a prompt or of texts to embed) is
// sent by undici's dispatcher rather than its fetch. fetch copies a byte body three times on the event loop every
// session shares (the bytes for the Request, a stream of them, a clone of each piece read from it): four 31 MB
// prompts held every other session for up to 1.3 s (review R3). The dispatcher writes the bytes to the socket as they
// are, through the same Agent (the host policy, the timeouts, the kept-alive connections).
// The answer is handed on as fetch's would be, a Response, which the cap and the answer's parse read as any other:
// decompressed as fetch would (an identity answer is asked for, but a server may compress all the same), and with
// no redirect followed (fetch's redirect: 'manual' here).

import { pipeline, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type Dispatcher, Headers, type RequestInit, Response } from 'undici';
import { noAnswer } from './errors.js';
/** The content codings fetch decodes, each a stream of its own. */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

export async function bytesRequest(url: URL, init: RequestInit & { body: Uint8Array }, signal: AbortSignal, dispatcher: Dispatcher): Promise<Response> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  new Headers(init.headers).forEach((value, name) => {
    if (name !== 'accept-encoding') headers[name] = value;
  });
  const answer = await dispatcher.request({
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: (init.method ?? 'POST') as Dispatcher.HttpMethod,
    headers,
    body: init.body,
    signal,
  });
  const answerHeaders = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    for (const each of [value ?? []].flat()) answerHeaders.append(name, each);
  }
  const refused = noAnswer(answer.statusCode);
  if (refused) {
    // Read to its end (or its first 128 KiB) rather than destroyed: a body destroyed unread errs, and with no one to
    // hear it, the error took the whole process down (a 204 to a big prompt, review N).
    await answer.body.dump();
    throw refused;
  }
  const decoder = DECODERS[answerHeaders.get('content-encoding')?.trim().toLowerCase() ?? ''];
  const body = decoder ? pipeline(answer.body, decoder(), () => {}) : answer.body;
  return new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, { status: answer.statusCode, headers: answerHeaders });
}
