// A request whose body is bytes written in a thread (request-body.ts: megabytes of a prompt or of texts to embed) is
// sent by undici's dispatcher rather than its fetch. fetch copies a byte body three times on the event loop every
// session shares (the bytes for the Request, a stream of them, a clone of each piece read from it): four 31 MB
// prompts held every other session for up to 1.3 s (review R3). The dispatcher writes the bytes to the socket as they
// are, through the same Agent (the host policy, the timeouts, the kept-alive connections).
// The answer is handed on as fetch's would be, a Response, which the cap and the answer's parse read as any other.
// fetch would decompress an answer and follow no redirect here (redirect: 'manual'); the dispatcher does neither, so
// no compressed answer is asked for.

import { Readable } from 'node:stream';
import { type Dispatcher, Headers, type RequestInit, Response } from 'undici';

/** Statuses whose answer has no body, which a Response refuses to be given one for. */
const NO_BODY = new Set([204, 205, 304]);

export async function bytesRequest(url: URL, init: RequestInit & { body: Uint8Array }, signal: AbortSignal, dispatcher: Dispatcher): Promise<Response> {
  const headers: Record<string, string> = {};
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
  if (NO_BODY.has(answer.statusCode)) {
    answer.body.destroy();
    return new Response(null, { status: answer.statusCode, headers: answerHeaders });
  }
  return new Response(Readable.toWeb(answer.body) as ReadableStream<Uint8Array>, { status: answer.statusCode, headers: answerHeaders });
}
