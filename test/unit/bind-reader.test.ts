import { describe, expect, it } from 'vitest';
import { BindReader } from '../../proxy/bind-reader.js';
import type { BindNames } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { MAX_NAME_BYTES } from '../../proxy/statement-relay.js';

function bind(portal: string, statement: string, rest: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(`${portal}\0${statement}\0`), rest]);
  const header = Buffer.alloc(5);
  header[0] = 'B'.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

interface Judged {
  names: BindNames | undefined;
  bytes: number;
  /** Bytes of the body read when it was judged. */
  readBefore: number;
}

/**
 * Reads `frame`'s body in pieces of `size`, judged by `refusal` (none: kept; undefined admission with `relay`: relayed
 * unless told otherwise): what was judged, kept, handed on or relayed.
 */
function read(frame: Buffer, size: number, refusal?: PgError, relay?: { admitted: boolean; relays: boolean }) {
  const judged: Judged[] = [];
  const handedOn: Buffer[] = [];
  const relayed: Buffer[] = [];
  const askedToRelay: BindNames[] = [];
  let read = 0;
  const reader = new BindReader(
    frame.readInt32BE(1),
    (names, bytes) => {
      judged.push({ names, bytes, readBefore: read });
      return relay && !relay.admitted ? undefined : { refusal };
    },
    (bodiless) => handedOn.push(bodiless),
    (names) => {
      askedToRelay.push(names);
      return relay?.relays ? (bytes) => relayed.push(Buffer.from(bytes)) : undefined;
    },
  );
  for (let offset = 5; offset < frame.length; offset += size) {
    const piece = frame.subarray(offset, offset + size);
    read += piece.length;
    reader.read(piece);
  }
  reader.end();
  return { judged, handedOn, frame: reader.frame, relayed, askedToRelay, wasRelayed: reader.relayed };
}

describe('BindReader', () => {
  const rest = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 200]), Buffer.alloc(200, 'v'), Buffer.from([0, 0])]);
  const whole = bind('portal', 'statement', rest);

  it.each([1, 3, 7, 16, whole.length])('judges a Bind by its names as they come, in pieces of %i bytes, and keeps it whole', (size) => {
    const { judged, frame } = read(whole, size);
    expect(judged).toHaveLength(1);
    expect(judged[0]!.names).toEqual({ portal: 'portal', statement: 'statement' });
    expect(judged[0]!.bytes).toBe(rest.length);
    // Judged with no more of the body read than the piece that ends the names.
    expect(judged[0]!.readBefore).toBeLessThan('portal\0statement\0'.length + size);
    expect(frame).toEqual(whole);
  });

  it('hands on a Bind it refuses without its body, as soon as it is judged, and keeps nothing of it', () => {
    const { judged, handedOn, frame } = read(whole, 20, new PgError('54000', 'too big'));
    expect(judged).toHaveLength(1);
    expect(handedOn).toEqual([Buffer.from([0x42, 0, 0, 0, 4])]);
    expect(frame).toBeUndefined();
  });

  it('judges a Bind whose names are too long to keep with them unknown, and its whole body', () => {
    const long = bind('', 'n'.repeat(2 * MAX_NAME_BYTES + 10), rest);
    const { judged, frame } = read(long, 4096);
    expect(judged).toEqual([{ names: undefined, bytes: long.length - 5, readBefore: expect.any(Number) }]);
    expect(frame).toEqual(long);
  });

  it('keeps a body that ends within its names, unjudged, for the interceptor to find malformed', () => {
    const malformed = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 9]), Buffer.from('name\0')]);
    const { judged, frame } = read(malformed, 2);
    expect(judged).toEqual([]);
    expect(frame).toEqual(malformed);
  });

  it.each([1, 7, whole.length])('relays a Bind the interceptor left alone, in pieces of %i bytes, when told to, keeping none of it', (size) => {
    const { askedToRelay, relayed, frame, wasRelayed } = read(whole, size, undefined, { admitted: false, relays: true });
    expect(askedToRelay).toEqual([{ portal: 'portal', statement: 'statement' }]);
    expect(Buffer.concat(relayed)).toEqual(whole);
    expect(frame).toBeUndefined();
    expect(wasRelayed).toBe(true);
  });

  it('keeps whole a Bind the interceptor admitted, or one it does not have relayed, asking about relaying only the latter', () => {
    const admitted = read(whole, 7, undefined, { admitted: true, relays: true });
    expect(admitted.askedToRelay).toEqual([]);
    expect(admitted.frame).toEqual(whole);
    const kept = read(whole, 7, undefined, { admitted: false, relays: false });
    expect(kept.askedToRelay).toHaveLength(1);
    expect(kept.frame).toEqual(whole);
    expect(kept.wasRelayed).toBe(false);
  });
});
