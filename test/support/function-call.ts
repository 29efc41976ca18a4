// A fastpath FunctionCall message (pg-protocol writes none): the function's oid and its arguments, each in text.

export function functionCall(oid: number, ...texts: string[]): Buffer {
  const values = texts.map((text) => Buffer.from(text));
  const body = Buffer.alloc(4 + 2 + 2 + 2 + values.reduce((size, value) => size + 4 + value.length, 0) + 2);
  let at = body.writeInt32BE(oid, 0);
  at = body.writeInt16BE(1, at);
  at = body.writeInt16BE(0, at);
  at = body.writeInt16BE(values.length, at);
  for (const value of values) {
    at = body.writeInt32BE(value.length, at);
    at += value.copy(body, at);
  }
  body.writeInt16BE(0, at);
  const header = Buffer.alloc(5);
  header[0] = 'F'.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
