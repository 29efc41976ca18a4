// Where a character of a string constant's value stands in the constant as written. PostgreSQL's error positions
// count the characters of the query string: an error inside SQL written out as a constant (pg_llm_estimate's sql) is
// pointed at where it stands in that constant. A constant is '…' (read with standard_conforming_strings on, as the
// proxy's parser reads it), N'…', E'…' with its backslash escapes, or $tag$…$tag$; a '…' continued after a line break
// ('…'<newline>'…') counts the break as written.

/** The characters of `token` (a string constant as the scanner gives it) before the `index`th character of its value. */
export function writtenOffset(token: string, index: number): number {
  const written = [...token];
  const tag = /^\$[^$]*\$/.exec(token)?.[0];
  if (tag !== undefined) return [...tag].length + index;
  const escapes = /^[eE]/.test(token);
  let at = written.indexOf("'") + 1;
  for (let read = 0; at < written.length; ) {
    const char = written[at]!;
    if (char === "'" && written[at + 1] !== "'") {
      const next = nextPart(written, at + 1);
      if (next === undefined) break;
      at = next;
      continue;
    }
    if (read === index) break;
    at += char === "'" ? 2 : escapes && char === '\\' ? escapeLength(written, at) : 1;
    read++;
  }
  return at;
}

/** Past the opening quote of the part that continues a constant after `from` (only white space between), if one does. */
function nextPart(written: string[], from: number): number | undefined {
  let at = from;
  while (at < written.length && /\s/.test(written[at]!)) at++;
  return written[at] === "'" ? at + 1 : undefined;
}

/** The characters of the backslash escape at `at` (\n, \', \x41, \101, \u0041, \U00000041). */
function escapeLength(written: string[], at: number): number {
  const next = written[at + 1] ?? '';
  const digits = (pattern: RegExp, from: number, most: number): number => {
    let count = 0;
    while (count < most && pattern.test(written[from + count] ?? '')) count++;
    return count;
  };
  if (/[0-7]/.test(next)) return 1 + digits(/[0-7]/, at + 1, 3);
  if (next === 'x') return 2 + digits(/[0-9a-fA-F]/, at + 2, 2);
  if (next === 'u') return 6;
  if (next === 'U') return 10;
  return 2;
}
