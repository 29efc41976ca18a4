// A stream of server-sent events as the SDKs read it, with each big event's data replaced by what its parser makes of
// it (the JSON of its pruned form, from a worker thread): the SDKs join an event's data lines and JSON.parse them
// on the event loop. Only the fields an SDK reads (data, event, id, retry) are passed on, so that nothing else a
// server sends (comments, unknown fields, a JSON body not framed as events) reaches a JSON.parse of an SDK's.

type Parse = (data: string) => Promise<string>;

export function serverSentEvents(source: ReadableStreamDefaultReader<Uint8Array>, inlineBytes: number, parseBig: Parse): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let rest = '';
  let fields: string[] = [];
  let data: string[] = [];
  let dataLength = 0;

  const line = (text: string): void => {
    const colon = text.indexOf(':');
    const name = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.slice(colon + 1);
    if (name === 'data') {
      const datum = value.startsWith(' ') ? value.slice(1) : value;
      data.push(datum);
      dataLength += datum.length;
    } else if (name === 'event' || name === 'id' || name === 'retry') {
      fields.push(text);
    }
  };
  const event = async (): Promise<string> => {
    if (fields.length === 0 && data.length === 0) return '';
    const lines = dataLength <= inlineBytes ? data : [await parseBig(data.join('\n'))];
    const text = [...fields, ...lines.map((datum) => `data: ${datum}`)].join('\n');
    fields = [];
    data = [];
    dataLength = 0;
    return `${text}\n\n`;
  };
  /** The events the text completes; a line is only split once its end has come (and \r may be half of \r\n). */
  const events = async (text: string, final: boolean): Promise<string> => {
    if (!final && !/[\r\n]/.test(text)) {
      rest += text;
      return '';
    }
    let buffer = rest + text;
    const carry = !final && buffer.endsWith('\r') ? '\r' : '';
    if (carry) buffer = buffer.slice(0, -1);
    const lines = buffer.split(/\r\n|\r|\n/);
    rest = final ? '' : lines.pop()! + carry;
    let out = '';
    for (const text of lines) {
      if (text === '') out += await event();
      else line(text);
    }
    return final ? out + (await event()) : out;
  };

  return new ReadableStream<Uint8Array>({
    // A pull that enqueues nothing is not called again, so it reads until it has an event to pass on.
    async pull(controller) {
      for (;;) {
        const next = await source.read();
        const out = next.done ? await events(decoder.decode(), true) : await events(decoder.decode(next.value, { stream: true }), false);
        if (out) controller.enqueue(encoder.encode(out));
        if (next.done) return controller.close();
        if (out) return;
      }
    },
    cancel(reason) {
      return source.cancel(reason);
    },
  });
}
