// A stream of server-sent events as the SDKs read it, with each big event's data replaced by what its parser makes of
// it (the JSON of its pruned form, from a worker thread): the SDKs join an event's data lines and JSON.parse them
// on the event loop. Only the fields an SDK reads (data, event, id, retry) are passed on, so that nothing else a
// server sends (comments, unknown fields, a JSON body not framed as events) reaches a JSON.parse of an SDK's.
//
// A server may send its answer faster than it is read, so the next chunk is there at once, and the SDK and the
// function reading the stream handle each event passed on in the same turn of the event loop: the chunks are read,
// and the events passed on at most EVENTS_A_TURN at a time, a turn of the event loop apart, so that one stream
// (8 MiB of blank lines, or of tiny events) cannot hold every other session for seconds. A blank line that ends no
// event costs nothing, and an event's data lines count with their line ends, so that a million empty ones are one
// big event, parsed in a thread.

import { setImmediate } from 'node:timers/promises';

type Parse = (data: string) => Promise<string>;

const EVENTS_A_TURN = 256;

export function serverSentEvents(source: ReadableStreamDefaultReader<Uint8Array>, inlineBytes: number, parseBig: Parse): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let rest = '';
  let fields: string[] = [];
  let data: string[] = [];
  let dataLength = 0;
  /** Events complete and not yet passed on; whether the source has ended; whether the next step waits for a turn. */
  let ready: string[] = [];
  let ended = false;
  let stepped = false;

  const line = (text: string): void => {
    const colon = text.indexOf(':');
    const name = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.slice(colon + 1);
    if (name === 'data') {
      const datum = value.startsWith(' ') ? value.slice(1) : value;
      data.push(datum);
      dataLength += datum.length + 1;
    } else if (name === 'event' || name === 'id' || name === 'retry') {
      fields.push(text);
    }
  };
  const pending = (): boolean => fields.length > 0 || data.length > 0;
  /** The event of the lines since the last one (there are some). */
  const event = async (): Promise<string> => {
    const lines = dataLength <= inlineBytes ? data : [await parseBig(data.join('\n'))];
    const text = [...fields, ...lines.map((datum) => `data: ${datum}`)].join('\n');
    fields = [];
    data = [];
    dataLength = 0;
    return `${text}\n\n`;
  };
  /** Makes ready the events the text completes; a line is only split once its end has come (and \r may be half of \r\n). */
  const events = async (text: string, final: boolean): Promise<void> => {
    if (!final && !/[\r\n]/.test(text)) {
      rest += text;
      return;
    }
    let buffer = rest + text;
    const carry = !final && buffer.endsWith('\r') ? '\r' : '';
    if (carry) buffer = buffer.slice(0, -1);
    const lines = buffer.split(/\r\n|\r|\n/);
    rest = final ? '' : lines.pop()! + carry;
    for (const text of lines) {
      if (text !== '') line(text);
      else if (pending()) ready.push(await event());
    }
    if (final && pending()) ready.push(await event());
  };

  return new ReadableStream<Uint8Array>({
    // A pull that enqueues nothing is not called again, so it reads until it has an event to pass on.
    async pull(controller) {
      for (;;) {
        if (stepped) await setImmediate();
        stepped = true;
        if (ready.length > 0) {
          const passed = ready.slice(0, EVENTS_A_TURN);
          ready = ready.slice(EVENTS_A_TURN);
          return controller.enqueue(encoder.encode(passed.join('')));
        }
        if (ended) return controller.close();
        const next = await source.read();
        ended = next.done;
        await (next.done ? events(decoder.decode(), true) : events(decoder.decode(next.value, { stream: true }), false));
      }
    },
    cancel(reason) {
      return source.cancel(reason);
    },
  });
}
