// A request whose body is bytes written in a thread (request-body.ts: megabytes of a prompt or of texts to embed) is
// sent by undici's dispatcher rather than its fetch. fetch copies a byte body three times on the event loop every
// session shares (the bytes for the Request, a stream of them, a clone of each piece read from it): four 31 MB
// prompts held every other session for up to 1.3 s (review R3). The dispatcher writes the bytes to the socket as they
// are, through the same Agent (the host policy, the timeouts, the kept-alive connections).
// The answer is handed on as fetch's would be, a Response, which the cap and the answer's parse read as any other:
// decompressed as fetch would (an identity answer is asked for, but a server may compress all the same), and with
// no redirect followed (fetch's redirect: 'manual' here).

import { PassThrough, pipeline, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type Dispatcher, Headers, type RequestInit, Response } from 'undici';
import { noAnswer, ProviderError } from './errors.js';

/** The content codings fetch decodes, each a stream of its own. */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};
const DECODED_HINT = 'The proxy asks for an answer as it is, and decodes gzip, deflate and br.';

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
    // A body destroyed errs: unheard, that error took the whole process down (a 204 to a big prompt, review N).
    answer.body.on('error', () => {}).destroy();
    throw refused;
  }
  return new Response(Readable.toWeb(decoded(answer.body, answerHeaders.get('content-encoding'))) as ReadableStream<Uint8Array>, {
    status: answer.statusCode,
    headers: answerHeaders,
  });
}

/**
 * The body decoded of its content codings, the last applied first, as fetch decodes it. A coding the proxy cannot
 * decode, or a body that is not what its coding says, fails the answer with a clear error rather than reaching a
 * parse as bytes (whose error would quote them, NULs and all). The provider's header is not quoted: it is the
 * provider's to write, a key in it included.
 */
function decoded(body: Readable, contentEncoding: string | null): Readable {
  const codings = (contentEncoding ?? '').split(',').map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0) return body;
  if (codings.some((coding) => !Object.hasOwn(DECODERS, coding))) {
    body.on('error', () => {}).destroy();
    throw new ProviderError('the model provider answered in a content coding the proxy does not decode', DECODED_HINT);
  }
  const out = new PassThrough();
  // Not piped into `out` by pipeline, which would fail `out` with zlib's own error (its text empty by the time the
  // SDK quotes it) before this one.
  const last = pipeline(body, ...(codings.reverse().map((coding) => DECODERS[coding]!()) as [Transform]), (error) => {
    if (error) out.destroy(new ProviderError("the model provider's answer is not in the content coding its headers name", DECODED_HINT));
  });
  last.pipe(out);
  // A reader that stops early (at the cap) stops the decoding, and the answer's connection with it.
  out.on('close', () => last.destroy());
  return out;
}
