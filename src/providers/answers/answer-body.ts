// A provider's answer as the SDKs (and the JSON APIs' client) read it: a small one as it came, a big one parsed in a
// worker thread (pool.ts) and replaced by the JSON of the part its adapter reads (shape.ts). Every SDK reads an
// answer with one JSON.parse on the event loop, which every session shares: a 126 MB answer padded with `{}` held
// every session of the proxy for minutes, a 7 MB one for most of a second.

import { setImmediate } from 'node:timers/promises';
import { Response } from 'undici';
import type { Asker } from '../asker.js';
import type { AnswerKind } from '../response-cap.js';
import { parseInThread } from './pool.js';
import type { AnswerShapes, Shape } from './shape.js';
import { serverSentEvents } from './sse-events.js';
import { STRUCTURE_LIMITS } from './structure.js';

/** Answers (and events of a stream) up to this size are parsed on the event loop: that takes well under a ms. */
export const INLINE_ANSWER_BYTES = 64 * 1024;
/** Lines of JSON lines gone through in a turn of the event loop; a few milliseconds' worth. */
export const LINES_A_TURN = 4096;

export interface AnswerReading {
  shapes: AnswerShapes;
  kind: AnswerKind;
  asker: Asker;
  /** Whether the request asked for a stream of server-sent events. */
  streamed: boolean;
}

export function answerBody(response: Response, reading: AnswerReading): Response {
  if (!response.body) return response;
  const source = response.body.getReader();
  const parse = (shape: Shape) => (text: Uint8Array) => parseInThread({ text, shape, limits: STRUCTURE_LIMITS[reading.kind] }, reading.asker);
  let body: ReadableStream<Uint8Array>;
  if (response.status < 200 || response.status > 299) body = cutShort(source);
  else if (reading.streamed) body = serverSentEvents(source, INLINE_ANSWER_BYTES, async (data) => parse(reading.shapes.event ?? 'any')(new TextEncoder().encode(data)));
  else if (reading.shapes.lines) body = jsonLines(source, parse(reading.shapes.lines));
  else body = whole(source, parse(reading.shapes.answer));
  return new Response(body, response);
}

/**
 * JSON lines read whole, each passed on as it is when small, else as its parser's JSON, one line each. A batch's
 * results (up to --max-embedding-response-bytes) may be millions of lines, blank or tiny, of a role's own server:
 * they are gone through LINES_A_TURN a turn of the event loop, and a blank line is passed over without a copy.
 */
function jsonLines(source: ReadableStreamDefaultReader<Uint8Array>, parseBig: (text: Uint8Array) => Promise<string>): ReadableStream<Uint8Array> {
  return whole(source, async (text) => {
    const lines: string[] = [];
    const decoder = new TextDecoder();
    for (let start = 0, seen = 0; start < text.length; seen++) {
      if (seen % LINES_A_TURN === LINES_A_TURN - 1) await setImmediate();
      const newline = text.indexOf(10, start);
      const end = newline < 0 ? text.length : newline;
      const length = end - start;
      // Blank lines (and a CR before the newline) are no lines. A big line is copied: its buffer moves to the thread.
      if (length > 1 || (length === 1 && text[start] !== 13)) lines.push(length <= INLINE_ANSWER_BYTES ? decoder.decode(text.subarray(start, end)) : await parseBig(text.slice(start, end)));
      start = end + 1;
    }
    return lines.join('\n');
  }, true);
}

/** The answer read whole, then passed on as it is when small (unless `always`), else as its parser's JSON. */
function whole(source: ReadableStreamDefaultReader<Uint8Array>, parseBig: (text: Uint8Array) => Promise<string>, always = false): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for (let next = await source.read(); !next.done; next = await source.read()) {
        chunks.push(next.value);
        size += next.value.byteLength;
      }
      // One buffer of its own, which moves to the thread without a copy.
      const text = new Uint8Array(size);
      chunks.reduce((at, chunk) => (text.set(chunk, at), at + chunk.byteLength), 0);
      controller.enqueue(size <= INLINE_ANSWER_BYTES && !always ? text : new TextEncoder().encode(await parseBig(text)));
      controller.close();
    },
    cancel(reason) {
      return source.cancel(reason);
    },
  });
}

/**
 * An error answer's first bytes only: what the SDKs quote of it is cut to a few hundred characters anyway (errors.ts),
 * and a big one would be parsed on the event loop.
 */
function cutShort(source: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let size = 0;
      for (let next = await source.read(); !next.done; next = await source.read()) {
        controller.enqueue(next.value.subarray(0, INLINE_ANSWER_BYTES - size));
        size += next.value.byteLength;
        if (size >= INLINE_ANSWER_BYTES) {
          await source.cancel();
          break;
        }
      }
      controller.close();
    },
    cancel(reason) {
      return source.cancel(reason);
    },
  });
}
