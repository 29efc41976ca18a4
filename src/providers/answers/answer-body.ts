// A provider's answer as the SDKs (and the JSON APIs' client) read it: a small one as it came, a big one parsed in a
// worker thread (pool.ts) and replaced by the JSON of the part its adapter reads (shape.ts). Every SDK reads an
// answer with one JSON.parse on the event loop, which every session shares: a 126 MB answer padded with `{}` held
// every session of the proxy for minutes, a 7 MB one for most of a second. An
// embeddings answer is held in the thread to what its request asked for (embeddings-asked.ts).

import { setImmediate } from 'node:timers/promises';
import { COPY_BYTES_A_TURN, ownTurn } from '../../event-loop-turns.js';
import { Response } from 'undici';
import type { Asker } from '../asker.js';
import type { AnswerKind } from '../response-cap.js';
import type { EmbeddingsAsked } from './embeddings-asked.js';
import type { ParseRequest } from './parse-worker.js';
import { parseInThread, parseInThreadToString } from './pool.js';
import type { AnswerShapes, Shape } from './shape.js';
import { serverSentEvents } from './sse-events.js';
import { STRUCTURE_LIMITS } from './structure.js';

/** Answers (and events of a stream) up to this size are parsed on the event loop: that takes well under a ms. */
export const INLINE_ANSWER_BYTES = 64 * 1024;
/** Lines of JSON lines gone through in a turn of the event loop; a few milliseconds' worth. */
export const LINES_A_TURN = 4096;

export interface AnswerReading {
  /** What the adapter reads of an answer; none when the caller reads the answer itself (json-answer.ts). */
  shapes?: AnswerShapes;
  kind: AnswerKind;
  asker: Asker;
  /** Whether the request asked for a stream of server-sent events. */
  streamed: boolean;
  /** What the request asked for, when it asked for embeddings. */
  asked?: EmbeddingsAsked;
}

export function answerBody(response: Response, reading: AnswerReading): Response {
  if (!response.body) return response;
  const source = response.body.getReader();
  const { asked } = reading;
  const parsing = (text: Uint8Array, shape: Shape): ParseRequest => ({ text, shape, limits: STRUCTURE_LIMITS[reading.kind], ...(asked ? { asked } : {}) });
  const parse = (shape: Shape) => async (text: Uint8Array) => (await parseInThread(parsing(text, shape), reading.asker)).json;
  let body: ReadableStream<Uint8Array>;
  if (response.status < 200 || response.status > 299) body = cutShort(source);
  // Read whole into one piece, as the caller reads it.
  else if (!reading.shapes) body = whole(source, async (text) => text);
  else if (reading.streamed) {
    const shape = reading.shapes.event ?? 'any';
    body = serverSentEvents(source, INLINE_ANSWER_BYTES, async (data) => parseInThreadToString(parsing(new TextEncoder().encode(data), shape), reading.asker));
  }
  else if (reading.shapes.lines) body = jsonLines(source, parse(reading.shapes.lines));
  else {
    const shape = reading.shapes.answer;
    return readAsText(async () => {
      const text = await readWhole(source);
      if (text.byteLength <= INLINE_ANSWER_BYTES) return new TextDecoder().decode(text);
      const pruned = await parseInThreadToString(parsing(text, shape), reading.asker);
      // What the SDK parses at once when it is handed over.
      if (pruned.length > INLINE_ANSWER_BYTES) await ownTurn();
      return pruned;
    }, response);
  }
  return new Response(body, response);
}

/**
 * A whole answer as an SDK reads it, by text() (OpenAI's) or json() (Anthropic's): the pruned answer's JSON comes
 * from the thread as a string, handed to the SDK as it is. As bytes in a stream, the SDK gathered, copied and decoded
 * them on the event loop before its JSON.parse: 40 ms of a 7 MB answer's 65, and eight such answers in a row held
 * every session for most of a second (review R3).
 */
function readAsText(read: () => Promise<string>, init: Response): Response {
  const response = new Response(null, init);
  let text: Promise<string> | undefined;
  return Object.assign(response, {
    text: () => (text ??= read()),
    json: async () => JSON.parse(await (text ??= read())) as unknown,
  });
}

/**
 * JSON lines read whole, each passed on as it is when small, else as its parser's JSON, one line each. A batch's
 * results (up to --max-embedding-response-bytes) may be millions of lines, blank or tiny, of a role's own server:
 * they are gone through LINES_A_TURN a turn of the event loop, and a blank line is passed over without a copy.
 */
function jsonLines(source: ReadableStreamDefaultReader<Uint8Array>, parseBig: (text: Uint8Array) => Promise<Uint8Array>): ReadableStream<Uint8Array> {
  return whole(source, async (text) => {
    const lines: Uint8Array[] = [];
    for (let start = 0, seen = 0; start < text.length; seen++) {
      if (seen % LINES_A_TURN === LINES_A_TURN - 1) await setImmediate();
      const newline = text.indexOf(10, start);
      const end = newline < 0 ? text.length : newline;
      const length = end - start;
      // Blank lines (and a CR before the newline) are no lines. A big line is copied: its buffer moves to the thread.
      if (length > 1 || (length === 1 && text[start] !== 13)) lines.push(length <= INLINE_ANSWER_BYTES ? text.subarray(start, end) : await parseBig(text.slice(start, end)));
      start = end + 1;
    }
    return joined(lines, true);
  });
}

/**
 * The pieces one after the other (a newline between each two, for `lines`) in a buffer of their own, which moves to
 * the thread without a copy: COPY_BYTES_A_TURN or LINES_A_TURN pieces a turn of the event loop, as copying an
 * 85 MB answer held every session for tens of ms. Not zero-filled first: every byte of it is written.
 */
async function joined(pieces: Uint8Array[], lines = false): Promise<Uint8Array> {
  const gap = lines ? 1 : 0;
  const text = Buffer.allocUnsafeSlow(Math.max(0, pieces.reduce((size, piece) => size + piece.byteLength + gap, -gap)));
  let at = 0;
  let sinceTurn = 0;
  for (const [index, piece] of pieces.entries()) {
    if (index > 0 && lines) text[at++] = 10;
    text.set(piece, at);
    at += piece.byteLength;
    sinceTurn += piece.byteLength;
    if (sinceTurn >= COPY_BYTES_A_TURN || index % LINES_A_TURN === LINES_A_TURN - 1) {
      sinceTurn = 0;
      await setImmediate();
    }
  }
  return text;
}

/** The largest block an answer is read into: above what the allocator takes from its heap, so it goes back whole. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

/**
 * The answer's bytes copied, as they come, into blocks of their own that grow to a few MiB: the chunks a body comes
 * in (some KiB each) then go at once. Kept until the answer was whole, an answer's worth of them fragmented the
 * allocator's heap: 16 answers of 117 MB left the proxy 870 MB resident for minutes after (review P, P3-1).
 */
async function readWhole(source: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const blocks: Buffer[] = [];
  let filled = 0;
  for (let next = await source.read(); !next.done; next = await source.read()) {
    for (let at = 0; at < next.value.byteLength; ) {
      let block = blocks.at(-1);
      if (block === undefined || filled === block.length) {
        // Each block twice the one before: a small answer takes one small block, a big one few blocks.
        block = Buffer.allocUnsafeSlow(Math.min(MAX_BLOCK_BYTES, Math.max(INLINE_ANSWER_BYTES, blocks.length > 0 ? 2 * blocks.at(-1)!.length : 0)));
        blocks.push(block);
        filled = 0;
      }
      const copied = Math.min(block.length - filled, next.value.byteLength - at);
      block.set(next.value.subarray(at, at + copied), filled);
      filled += copied;
      at += copied;
    }
  }
  if (blocks.length === 0) return new Uint8Array(0);
  blocks.push(blocks.pop()!.subarray(0, filled));
  return blocks.length === 1 ? blocks[0]! : joined(blocks);
}

/** The answer read whole, then passed on as `passed` makes it. */
function whole(source: ReadableStreamDefaultReader<Uint8Array>, passed: (text: Uint8Array) => Promise<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      controller.enqueue(await passed(await readWhole(source)));
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
