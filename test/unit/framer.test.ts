import { describe, expect, it } from 'vitest';
import { MessageFramer, PUT_OFF } from '../../proxy/framer.js';
import { PgError } from '../../proxy/pg-error.js';

function frame(type: string, body: string): Buffer {
  const bytes = Buffer.from(body);
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}

/** Feeds `stream` in pieces of `size` bytes and records what the framer reports. */
function feed(framer: MessageFramer, stream: Buffer, size: number): Array<[string, string | undefined]> {
  const seen: Array<[string, string | undefined]> = [];
  for (let offset = 0; offset < stream.length; offset += size) {
    framer.push(stream.subarray(offset, offset + size), (type, bytes) =>
      seen.push([String.fromCharCode(type), bytes && Buffer.from(bytes).toString('latin1')]),
    );
  }
  return seen;
}

describe('MessageFramer', () => {
  const stream = Buffer.concat([frame('T', 'row description'), frame('D', 'x'.repeat(300)), frame('Z', 'I'), frame('C', '')]);
  const keepReadyForQuery = (type: number): boolean => type === 'Z'.charCodeAt(0);

  it.each([1, 2, 3, 5, 7, 64, stream.length])('reports every message once, in order, in chunks of %i bytes', (size) => {
    const framer = new MessageFramer(keepReadyForQuery, 1 << 20);
    expect(feed(framer, stream, size)).toEqual([
      ['T', undefined],
      ['D', undefined],
      ['Z', frame('Z', 'I').toString('latin1')],
      ['C', undefined],
    ]);
    expect(framer.atBoundary).toBe(true);
  });

  it('hands over whole frames, header included, when asked to keep every type', () => {
    const framer = new MessageFramer(() => true, 1 << 20);
    const seen = feed(framer, stream, 4);
    expect(Buffer.concat(seen.map(([, bytes]) => Buffer.from(bytes!, 'latin1')))).toEqual(stream);
  });

  it('knows when it stands inside a message', () => {
    const framer = new MessageFramer(() => false, 1 << 20);
    framer.push(stream.subarray(0, 3), () => {});
    expect(framer.atBoundary).toBe(false);
    framer.push(stream.subarray(3, frame('T', 'row description').length), () => {});
    expect(framer.atBoundary).toBe(true);
  });

  it('refuses a length field below 4 as a protocol violation', () => {
    const framer = new MessageFramer(() => false, 1 << 20);
    const bad = Buffer.from([0x51, 0, 0, 0, 2]);
    expect(() => framer.push(bad, () => {})).toThrowError(expect.objectContaining({ sqlstate: '08P01' }) as PgError);
  });

  it('refuses a message over the size limit with 54000 and a hint', () => {
    const framer = new MessageFramer(() => false, 100);
    try {
      framer.push(frame('Q', 'y'.repeat(200)), () => {});
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PgError);
      expect((error as PgError).sqlstate).toBe('54000');
      expect((error as PgError).hint).toMatch(/--max-message-size/);
    }
  });
});

describe('MessageFramer offsets', () => {
  const keepQuery = (type: number): boolean => type === 'Q'.charCodeAt(0);

  it('reports where each message starts and where a kept one ends within the chunk', () => {
    const framer = new MessageFramer(keepQuery, 1 << 20);
    const chunk = Buffer.concat([frame('B', 'bind'), frame('Q', 'select 1'), frame('S', '')]);
    const seen: Array<[string, number, number]> = [];
    framer.push(chunk, (type, _frame, start, end) => seen.push([String.fromCharCode(type), start, end]));
    expect(seen).toEqual([
      ['B', 0, 5],
      ['Q', 9, 9 + 13],
      ['S', 22, 27],
    ]);
    expect(framer.heldFrom).toBeUndefined();
  });

  it('says where a kept message still being assembled began, and -1 once it began in an earlier chunk', () => {
    const framer = new MessageFramer(keepQuery, 1 << 20);
    const stream = Buffer.concat([frame('B', 'bind'), frame('Q', 'select 1')]);
    framer.push(stream.subarray(0, 12), () => {});
    expect(framer.heldFrom).toBe(9);
    framer.push(stream.subarray(12, 15), () => {});
    expect(framer.heldFrom).toBe(-1);
    const seen: Array<[number, number, number]> = [];
    framer.push(stream.subarray(15), (_type, bytes, start, end) => seen.push([start, end, bytes!.length]));
    expect(seen).toEqual([[-1, 7, 13]]);
    expect(framer.heldFrom).toBeUndefined();
  });

  it('holds a kept message whose header is split across chunks from its first byte', () => {
    const framer = new MessageFramer(keepQuery, 1 << 20);
    const stream = Buffer.concat([frame('B', 'bind'), frame('Q', 'x')]);
    framer.push(stream.subarray(0, 11), () => {});
    expect(framer.heldFrom).toBe(9);
  });
});

describe('MessageFramer showing a kept message as it arrives', () => {
  it('shows each chunk that does not complete it, in the buffer it is then handed over in', () => {
    const shown: Array<[string, number]> = [];
    let assembled: Buffer | undefined;
    const framer = new MessageFramer(
      (type) => type === 'Q'.charCodeAt(0),
      1 << 20,
      undefined,
      undefined,
      (type, frame, filled) => {
        expect(assembled ?? frame).toBe(frame);
        assembled = frame;
        shown.push([String.fromCharCode(type), filled]);
      },
    );
    const stream = Buffer.concat([frame('B', 'bind'), frame('Q', 'select 1')]);
    let handed: Buffer | undefined;
    for (const [from, to] of [[0, 12], [12, 15], [15, 17], [17, stream.length]]) framer.push(stream.subarray(from, to), (_type, bytes) => (handed = bytes ?? handed));
    expect(shown).toEqual([['Q', 6], ['Q', 8]]);
    expect(handed).toBe(assembled);
    expect(handed!.toString('latin1')).toBe(frame('Q', 'select 1').toString('latin1'));
  });

  it('shows nothing of a message that comes whole in one chunk, or that it does not keep', () => {
    let shown = 0;
    const framer = new MessageFramer((type) => type === 'Q'.charCodeAt(0), 1 << 20, undefined, undefined, () => shown++);
    const stream = Buffer.concat([frame('Q', 'select 1'), frame('D', 'x'.repeat(100))]);
    framer.push(stream.subarray(0, 20), () => {});
    framer.push(stream.subarray(20, 40), () => {});
    framer.push(stream.subarray(40), () => {});
    expect(shown).toBe(0);
  });
});

describe('MessageFramer with a body reader', () => {
  const keepRows = (type: number): boolean => type === 'D'.charCodeAt(0);

  it.each([1, 3, 7, 64])('hands a kept body to its reader as it comes, in chunks of %i bytes, then the handler without a frame', (size) => {
    const read: Buffer[] = [];
    let ended = 0;
    const framer = new MessageFramer(keepRows, 1 << 20, (_type, length) => (length > 10 ? { read: (bytes) => read.push(Buffer.from(bytes)), end: () => ended++ } : undefined));
    const stream = Buffer.concat([frame('D', 'short'), frame('D', 'r'.repeat(100)), frame('C', 'done')]);
    expect(feed(framer, stream, size)).toEqual([
      ['D', frame('D', 'short').toString('latin1')],
      ['D', undefined],
      ['C', undefined],
    ]);
    expect(Buffer.concat(read).toString()).toBe('r'.repeat(100));
    expect(ended).toBe(1);
    expect(framer.atBoundary).toBe(true);
  });

  it('holds the bytes of a message being read from where it began, and reports where it ends', () => {
    const framer = new MessageFramer(keepRows, 1 << 20, () => ({ read() {}, end() {} }));
    const stream = Buffer.concat([frame('C', 'x'), frame('D', 'y'.repeat(20))]);
    framer.push(stream.subarray(0, 12), () => {});
    expect(framer.heldFrom).toBe(6);
    expect(framer.atBoundary).toBe(false);
    const seen: Array<[number, number]> = [];
    framer.push(stream.subarray(12), (_type, _frame, start, end) => seen.push([start, end]));
    expect(seen).toEqual([[-1, stream.length - 12]]);
    expect(framer.heldFrom).toBeUndefined();
  });
});

describe('MessageFramer putting a message off', () => {
  it.each([1, 3, 6, 64])('stops before it, keeps what follows, and frames it all again once taken back (chunks of %i bytes)', (size) => {
    const stream = Buffer.concat([frame('P', 'small'), frame('Q', 'x'.repeat(40)), frame('S', '')]);
    let putOff = true;
    const framer = new MessageFramer(() => true, 1 << 20, (type) => (putOff && type === 'Q'.charCodeAt(0) ? PUT_OFF : undefined));
    expect(feed(framer, stream, size).map(([type]) => type)).toEqual(['P']);
    expect(framer.putOff).toBe(true);
    expect(framer.atBoundary).toBe(false);
    putOff = false;
    const waiting = framer.takeWaiting()!;
    expect(waiting.toString('latin1')).toBe(stream.subarray(frame('P', 'small').length).toString('latin1'));
    expect(feed(framer, waiting, waiting.length)).toEqual([
      ['Q', frame('Q', 'x'.repeat(40)).toString('latin1')],
      ['S', frame('S', '').toString('latin1')],
    ]);
    expect(framer.atBoundary).toBe(true);
  });
});

describe('MessageFramer putting off what follows a message', () => {
  it.each([1, 4, 9, 64])('stops after the message its handler asks it to, whether the rest came in its chunk or later (chunks of %i bytes)', (size) => {
    const first = frame('Q', 'judged later');
    const stream = Buffer.concat([first, frame('Q', 'after'), frame('X', '')]);
    const framer = new MessageFramer(() => true, 1 << 20);
    const seen: string[] = [];
    let asked = false;
    const held: Array<number | undefined> = [];
    for (let offset = 0; offset < stream.length; offset += size) {
      framer.push(stream.subarray(offset, offset + size), (_type, bytes) => {
        seen.push(Buffer.from(bytes!).toString('latin1'));
        if (!asked) framer.putOffRest();
        asked = true;
      });
      held.push(framer.heldFrom);
    }
    expect(seen).toEqual([first.toString('latin1')]);
    expect(framer.putOff).toBe(true);
    // The chunk that ends the message holds nothing before the message's end: the rest of it waits.
    const endingChunk = Math.floor((first.length - 1) / size);
    expect(held[endingChunk]).toBe(first.length - endingChunk * size);
    const waiting = framer.takeWaiting()!;
    expect(waiting).toEqual(stream.subarray(first.length));
    expect(feed(framer, waiting, waiting.length).map(([, bytes]) => bytes)).toEqual([frame('Q', 'after').toString('latin1'), frame('X', '').toString('latin1')]);
    expect(framer.atBoundary).toBe(true);
  });
});
