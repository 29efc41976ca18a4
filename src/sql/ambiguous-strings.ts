// A '…' string whose backslash stands before a quote ends in one place for the proxy's parser, which reads '…' as
// standard_conforming_strings on has it, and in another for a session with it off, which any session may set: there
// 'a\', ' is one string, and what follows it code. So `SELECT 'a\', ' AS q, ai.openai_embed(…, api_key => '…') --'`
// is a call and a key to the server, and only strings to the proxy, which would hand it over as it is (review R3).
// A statement the proxy reads for calls is refused when one of its '…' strings holds such a backslash: the two
// readings agree on where every other string ends.

import { PgError } from '../../proxy/pg-error.js';
import { scanSync } from './parser.js';

/** A plain string constant's token ('…', N'…'): E'…' reads backslashes in both readings, $$…$$ in neither. */
const PLAIN_STRING = /^[nN]?'/;
/** An odd run of backslashes before a quote: the last escapes the quote where backslashes are escapes. */
const ESCAPED_QUOTE = /(?:^|[^\\])(?:\\\\)*\\'/;

/** Refuses SQL with a '…' string that a session with standard_conforming_strings off ends elsewhere. */
export function refuseAmbiguousStrings(sql: string): void {
  if (!sql.includes("\\'") || !ambiguous(sql)) return;
  throw new PgError('0A000', "a '…' string of this statement holds a backslash before a quote, which a session with standard_conforming_strings off reads as an escaped quote, ending the string elsewhere", {
    hint: "Write such a string as E'…' (its backslashes doubled), or with dollar quotes ($$…$$).",
  });
}

/** Whether a '…' string holds an escaped quote, or the text does not scan at all (a string left open may end there). */
function ambiguous(sql: string): boolean {
  let tokens: Array<{ text: string }>;
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return true;
  }
  return tokens.some((token) => PLAIN_STRING.test(token.text) && ESCAPED_QUOTE.test(token.text.slice(token.text.indexOf("'") + 1)));
}
