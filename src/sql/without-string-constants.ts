// A statement with every string constant replaced by NULL, for PostgreSQL to analyse before the check has judged
// it (resolved-calls.ts). A string constant is what parse analysis runs code for: the input function of the type
// it becomes, which for an array, composite or range over a domain runs the domain's CHECK ('{1}'::counted[]),
// whatever function that calls. NULL is a constant of the same unknown type, so functions and operators resolve as
// they do for the statement itself, and no input function runs for it. A typed constant (DATE '2024-01-01')
// becomes CAST(NULL AS DATE); undefined where the text cannot be rewritten so (INTERVAL '1' DAY).

import { parseSync, scanSync } from './parser.js';
import { parseTask, runParseTask } from './parse-task.js';
import { walk } from './references.js';

type Tree = Record<string, unknown>;

interface Replacement {
  start: number;
  end: number;
  text: string;
}

/** A string constant's token, as the scanner reads it: '…', E'…', U&'…' or $tag$…$tag$ (bytes, like locations). */
const STRING_TOKEN = /^(?:[eE]?'|[uU]&'|\$)/;

export function withoutStringConstantsNow(sql: string): string | undefined {
  const bytes = Buffer.from(sql, 'utf8');
  const strings = new Map(scanSync(sql).tokens.filter((token) => STRING_TOKEN.test(token.text)).map((token) => [token.start, token.end]));
  const replacements: Replacement[] = [];
  const typed = new Set<number>();
  let rewritable = true;
  walk(parseSync(sql).stmts, (type, body) => {
    const constant = type === 'TypeCast' ? stringConstantLocation(body.arg) : type === 'A_Const' ? stringConstantLocation({ A_Const: body }) : undefined;
    if (constant === undefined || typed.has(constant) || !strings.has(constant)) return;
    const end = strings.get(constant)!;
    if (type === 'A_Const') {
      replacements.push({ start: constant, end, text: '(NULL)' });
      return;
    }
    // The form `type 'constant'` names its type first; `'constant'::type` and CAST(… AS type) name it after.
    const typeStart = (body.typeName as Tree).location as number;
    if (typeStart < 0 || typeStart > constant) return;
    typed.add(constant);
    // Type modifiers after the constant (INTERVAL '1' DAY) have no place in a cast of NULL.
    if (((body.typeName as Tree).typmods as Tree[] | undefined)?.some((modifier) => locationOf(modifier) > constant)) rewritable = false;
    replacements.push({ start: typeStart, end, text: `CAST(NULL AS ${bytes.toString('utf8', typeStart, constant)}\n)` });
  });
  if (!rewritable) return undefined;
  replacements.sort((a, b) => a.start - b.start);
  const parts: string[] = [];
  let at = 0;
  for (const { start, end, text } of replacements) {
    parts.push(bytes.toString('utf8', at, start), text);
    at = end;
  }
  parts.push(bytes.toString('utf8', at));
  return parts.join('');
}

const WITHOUT_STRING_CONSTANTS = parseTask(import.meta.url, 'withoutStringConstantsNow', withoutStringConstantsNow);

/** Rewrites where a big text holds up no other session (parse-task.ts). */
export function withoutStringConstants(sql: string): Promise<string | undefined> {
  return runParseTask(WITHOUT_STRING_CONSTANTS, sql);
}

function stringConstantLocation(node: unknown): number | undefined {
  const constant = (node as Tree | undefined)?.A_Const as Tree | undefined;
  return constant?.sval !== undefined && typeof constant.location === 'number' ? constant.location : undefined;
}

function locationOf(node: Tree): number {
  const [inner] = Object.values(node) as Tree[];
  return typeof inner?.location === 'number' ? inner.location : -1;
}
