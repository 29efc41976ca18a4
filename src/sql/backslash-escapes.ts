// A '…' constant's value as PostgreSQL reads it with standard_conforming_strings off, which any session may set: its
// backslashes are escapes, as in E'…' (\n, \', \x41, \101, \u0041, \U00000041; any other character stands for
// itself). The proxy's parser reads '…' with standard_conforming_strings on; where the server's reading matters (a
// URL it keeps), the value is checked as read either way.

const SIMPLE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** `value` (read with standard strings) with its backslash escapes read. */
export function withEscapesRead(value: string): string {
  return value.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([^]))/g, (_escape, octal: string | undefined, hex: string | undefined, short: string | undefined, long: string | undefined, other: string | undefined) => {
    const code = octal !== undefined ? parseInt(octal, 8) & 0xff : hex !== undefined ? parseInt(hex, 16) : short !== undefined ? parseInt(short, 16) : long !== undefined ? parseInt(long, 16) : undefined;
    if (code === undefined) return SIMPLE[other!] ?? other!;
    return code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}
