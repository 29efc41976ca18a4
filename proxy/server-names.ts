// Prepared statements and portals named in the extended protocol are one object to PostgreSQL when their names share
// the first NAMEDATALEN-1 bytes: its hash tables of them key on that many bytes (dynahash with a NAMEDATALEN key),
// cut anywhere, even within a character. The proxy keys what it keeps of them the same way, so that names the server
// takes as one are one to the proxy too, and no client makes it keep a megabyte name the server keeps 63 bytes of.

/** The bytes of a statement's or portal's name that PostgreSQL looks at (NAMEDATALEN - 1). */
export const SERVER_NAME_BYTES = 63;

/**
 * The name PostgreSQL knows the object named by `bytes` (without its NUL) as. A cut within a character ends with the
 * smallest character that begins with the bytes kept of it: sent back to the server, the name still begins with them,
 * and it stands for every name that does.
 */
export function serverName(bytes: Buffer): string {
  if (bytes.length <= SERVER_NAME_BYTES) return bytes.toString('utf8');
  const kept = bytes.subarray(0, SERVER_NAME_BYTES);
  const lead = leadOfLastCharacter(kept);
  const missing = lead < 0 ? 0 : sequenceLength(kept[lead]!) - (kept.length - lead);
  if (missing <= 0) return kept.toString('utf8');
  const completion = Buffer.alloc(missing, 0x80);
  // The second byte after E0 and F0 cannot be below A0 and 90: smaller would be overlong forms, not characters.
  if (kept.length - lead === 1 && kept[lead] === 0xe0) completion[0] = 0xa0;
  if (kept.length - lead === 1 && kept[lead] === 0xf0) completion[0] = 0x90;
  return Buffer.concat([kept, completion]).toString('utf8');
}

/** Where the last character of `bytes` begins (-1: none does in its last 4 bytes). */
function leadOfLastCharacter(bytes: Buffer): number {
  for (let at = bytes.length - 1; at >= Math.max(0, bytes.length - 4); at--) {
    if ((bytes[at]! & 0xc0) !== 0x80) return at;
  }
  return -1;
}

/** How many bytes the UTF-8 character that begins with `lead` has. */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  return lead >= 0xc0 ? 2 : 1;
}
