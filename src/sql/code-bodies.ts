// Code PostgreSQL keeps or runs as text: a DO block's body, and a function's or procedure's `AS '…'` (not a BEGIN
// ATOMIC body, which the parser reads, so that its settings and calls are found as any statement's). The proxy runs
// no call and holds no key written there: a DO block's call of pg_llm_add_model fails in the database (calls run only
// through the proxy), and the server logs the block with its error, key and all; a set_config in it leaves the key in
// the setting in clear; a function's body keeps it in pg_proc.prosrc, which every role may read. So such code is
// refused before the server gets it when it names one of pgai's key settings or writes out a secret argument of a
// call, or hands one a constant through a column its SQL writes or a PL/pgSQL variable (code-sql.ts), as it is when
// it names pg_llm.master_key (master-key-statements.ts). A setting is named where SQL names one:
// after SET, RESET or SHOW (a function's SET clause too), or as set_config's or current_setting's first argument
// written out; ai.monkey elsewhere is a column of a table aliased ai. Code is read as written, and so is the SQL it
// runs from strings (EXECUTE of strings or of format(): dynamic-sql.ts). Any other string (another language's too:
// plpy.execute("…"), or a format() outside EXECUTE) is read as SQL only when the parser reads it whole: RAISE
// NOTICE 'ai.openai_embed( failed' prints data, while q := 'SELECT pg_llm_add_model(…, ''sk-…'', …)' holds SQL for
// an EXECUTE q. A name the code computes (format('ai.%s_api_key', …)) is not looked for.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { FUNCTIONS, functionsCalled } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { IdentifierSet } from './identifiers.js';
import { isApiKeySetting } from './api-key-statements.js';
import { isServerSetting } from './server-names.js';
import { closingParenthesis, isName, isSqlString, nameOf, stringContent, type Token } from './code-tokens.js';
import { settingArgument, settingNamedAt, type ScannedText } from './code-settings.js';
import { secretThroughSql, secretThroughVariables } from './code-sql.js';
import { parametersGivenConstants, routineName } from './parameter-defaults.js';
import { executedText, formattedText } from './dynamic-sql.js';
import { parseSync, scanSync } from './parser.js';
import { plpgsqlCode } from './plpgsql-code.js';
import { secretLiterals } from './secret-literals.js';

/** The tokens of the statements that hold such code: DO, CREATE FUNCTION and CREATE PROCEDURE. */
export const CODE_BODY_TOKENS = new IdentifierSet(['do', 'function', 'procedure']);

/** A DO block's or a function's body (`AS '…'`), which the parser leaves as text. */
export interface DefElem {
  defname?: string;
  arg?: { String?: { sval: string }; List?: { items?: Array<{ String?: { sval: string } }> } };
}

/** The code of an option of a DO block or a function, if it is the `as` option. */
export function codeBody(element: DefElem): string | undefined {
  if (element.defname !== 'as') return undefined;
  return element.arg?.String?.sval ?? element.arg?.List?.items?.map((item) => item.String?.sval ?? '').join('\n');
}

/** Nested strings read as code at most this deep (EXECUTE of EXECUTE …); deeper, a mention is refused unread. */
const MAX_DEPTH = 8;

/** The functions with an argument that may be a secret, or SQL whose calls may write one out. */
let takers: { names: Set<string>; mention: RegExp } | undefined;

function secretTakers(): { names: Set<string>; mention: RegExp } {
  if (!takers) {
    const names = new Set(FUNCTIONS.filter(takesSecret).map((declaration) => declaration.name.toLowerCase()));
    takers = { names, mention: new RegExp(`\\b(?:${[...names].join('|')})\\b`, 'i') };
  }
  return takers;
}

function takesSecret(declaration: FunctionDeclaration): boolean {
  return declaration.arguments.some((argument) => argument.secret !== undefined || argument.sql);
}

/** The languages whose bodies are SQL or PL/pgSQL; another's strings may hold the SQL it runs. */
const SQL_LANGUAGES = new Set(['sql', 'plpgsql']);

/** What a setting's name follows, and the functions whose first argument is one. */
const SETTING_KEYWORDS = /^(?:set|reset|show)$/i;
const SETTING_FUNCTIONS = new Set(['set_config', 'current_setting']);

/**
 * Code that may name a key setting: it names something in schema ai, or may in a spelling with escapes (U&"…",
 * E'\x61i…'), where a setting is named or in SQL it runs from strings. Not a message that mentions ai ('Set up the
 * AI model'), which would otherwise be parsed.
 */
const MAY_NAME_AI = /\bai"?\s*\.|u&|\\/i;
const NAMES_SETTINGS = /\b(?:set|reset|show|set_config|current_setting|execute)\b/i;

/** In code the scanner cannot read, a key setting named as such (ai.openai_api_key, ai.key), wherever it stands. */
const KEY_NAMED = /\bai"?\s*\.\s*"?((?:\w*_)?key\w*)/i;

/**
 * Whether a query string holds code this module reads (it names DO, FUNCTION or PROCEDURE, and what may hand over a
 * secret): read as code, its literals cost what code does, which a count of code outside literals leaves out. Measured:
 * 16 kB of PL/pgSQL calls took some 125 ms to read (its SQL parsed and judged statement by statement), 4 kB some 30.
 */
export function readsCode(sql: string): boolean {
  return mayHoldSecret(sql) && CODE_BODY_TOKENS.namedIn(Buffer.from(sql, 'utf8'));
}

/** Throws a PgError for a DO block, CREATE FUNCTION or CREATE PROCEDURE whose code would hand the server a secret. */
export function refuseSecretsInCode(statement: Record<string, any>): void {
  const body = codeOf(statement);
  const found = body ? secretIn(body.code, 0, body.reading, body.routine) : atomicSecret(statement.CreateFunctionStmt);
  if (found === undefined) return;
  const what = body?.what ?? (statement.CreateFunctionStmt.is_procedure ? "a procedure's body" : "a function's body");
  throw new PgError('0A000', `${what} cannot ${found}`, {
    hint:
      'The server keeps such code as written (the server log, pg_proc), and a key in it. Give keys to the proxy instead: ' +
      "SET the key setting in the session (SET ai.openai_api_key = '…'), use the proxy's own keys (its environment, " +
      '--default-model), or call a model registered through the proxy (pg_llm_add_model); not in code stored or run in the database.',
  });
}

/**
 * The routine code is the body of (none for a DO block), whose parameters are its variables too; `plpgsql`, whether
 * the code is PL/pgSQL (a DO block's is).
 */
interface Routine {
  routine?: Record<string, unknown>;
  plpgsql: boolean;
}

/** The code of a DO block or routine, what it is, and how it is read. */
function codeOf(statement: Record<string, any>): { code: string; what: string; reading: Reading; routine: Routine } | undefined {
  const block = statement.DoStmt;
  const routine = statement.CreateFunctionStmt;
  const options = ((block?.args ?? routine?.options) as Array<{ DefElem?: DefElem }> | undefined) ?? [];
  const code = options.map((option) => (option.DefElem ? codeBody(option.DefElem) : undefined)).find((body) => body !== undefined);
  if (code === undefined) return undefined;
  const language = options.find((option) => option.DefElem?.defname === 'language')?.DefElem?.arg?.String?.sval ?? (block ? 'plpgsql' : 'sql');
  const what = block ? 'a DO block' : routine.is_procedure ? "a procedure's body" : "a function's body";
  const reading = SQL_LANGUAGES.has(language.toLowerCase()) ? 'code' : 'foreign';
  return { code, what, reading, routine: { routine, plpgsql: language.toLowerCase() === 'plpgsql' } };
}

/**
 * How a text is read: `code` in SQL or PL/pgSQL (a body, or the SQL it runs from strings), where a call the parser
 * cannot read may hide a secret; another language's (`foreign`), where such a call is that language's text; a
 * `string` of either, SQL only when the parser reads it whole.
 */
type Reading = 'code' | 'foreign' | 'string';

/** Code as the scanner cut it: its tokens, the text between two byte offsets, and how it is read. */
interface Scanned extends ScannedText {
  length: number;
  depth: number;
  foreign: boolean;
}

/**
 * What in the code would hand the server a secret, if anything: a key setting it names, or a secret argument that one
 * of its calls writes out, in its text, in the SQL it runs from strings, or in code it creates (EXECUTE 'CREATE
 * FUNCTION …').
 */
function secretIn(code: string, depth: number, reading: Reading, owner?: Routine): string | undefined {
  if (!mayHoldSecret(code)) return undefined;
  if (depth >= MAX_DEPTH) return 'hold SQL in strings nested this deep';
  const statements = reading === 'foreign' ? undefined : statementsOf(code);
  if (reading === 'string' && statements === undefined) return undefined;
  for (const statement of statements ?? []) {
    const body = codeOf(statement);
    const found = body && secretIn(body.code, depth + 1, body.reading, body.routine);
    if (found) return found;
  }
  // Its SQL judged as a top-level statement is, through the columns it writes and PL/pgSQL's variables (code-sql.ts).
  const through = owner?.plpgsql ? plpgsqlSecret(code, owner) : statements && sqlSecret(statements, code, owner?.routine);
  if (through) return through;
  let tokens: Token[];
  try {
    tokens = scanSync(code).tokens as Token[];
  } catch {
    return unreadable(code);
  }
  const bytes = Buffer.from(code, 'utf8');
  const scanned: Scanned = { tokens, text: (start, end) => bytes.toString('utf8', start, end), length: bytes.length, depth, foreign: reading === 'foreign' };
  for (let at = 0; at < tokens.length; at++) {
    const found = secretAt(scanned, at);
    if (found) return found;
  }
  return undefined;
}

/** What the code does at token `at` that would hand the server a secret. */
function secretAt(scanned: Scanned, at: number): string | undefined {
  const { tokens, depth, foreign } = scanned;
  const token = tokens[at]!;
  const next = tokens[at + 1]?.text;
  if (isSqlString(token) || (foreign && token.text.startsWith('"') && next !== '(' && next !== '.')) {
    return mayHoldSecret(token.text) ? secretIn(stringContent(token), depth + 1, 'string') : undefined;
  }
  if (tokens[at - 1]?.text === '.' || !isName(token)) return undefined;
  if (SETTING_KEYWORDS.test(token.text)) return settingHandedOver(scanned, settingNamedAt(scanned, at + 1), /^set$/i.test(token.text));
  if (/^execute$/i.test(token.text)) return secretIn(executedText(tokens, at + 1), depth + 1, foreign ? 'string' : 'code');
  const parts = [nameOf(token)];
  let last = at;
  while (tokens[last + 1]?.text === '.' && isName(tokens[last + 2])) {
    parts.push(nameOf(tokens[last + 2]!));
    last += 2;
  }
  if (tokens[last + 1]?.text !== '(') return undefined;
  const name = parts.at(-1)!.toLowerCase();
  if (SETTING_FUNCTIONS.has(name)) return settingHandedOver(scanned, settingArgument(scanned, at, last + 1), name === 'set_config');
  if (name === 'format') {
    const built = formattedText(tokens, last + 1);
    return built === undefined ? undefined : secretIn(built, depth + 1, 'string');
  }
  return secretCall(scanned, parts, at, last + 1);
}

/**
 * What the SQL of PL/pgSQL code would hand the server through its columns or variables, when it calls a function that
 * takes secrets; code PL/pgSQL's parser refuses (the server's would too), or SQL in it the parser refuses, cannot be read
 * for what reaches such a call.
 */
function plpgsqlSecret(code: string, { routine }: Routine): string | undefined {
  if (!secretTakers().mention.test(code)) return undefined;
  const read = plpgsqlCode(code, routine);
  if (!read) return unreadable(code);
  const sql = [];
  for (const { text, writes, passedTo } of read.sql) {
    const statements = statementsOf(text);
    if (statements === undefined && secretTakers().mention.test(text)) return unreadable(text);
    sql.push({ statements: statements ?? [], text, writes, passed: passedTo !== undefined && secretTakers().mention.test(passedTo) });
  }
  const labels = new Set([...read.labels, ...routineName(routine)]);
  return secretThroughSql(sql, labels, { given: parametersGivenConstants(routine), aliases: read.aliases });
}

/** What SQL code (a body in SQL, or SQL it runs from strings) would hand the server through its columns or a routine's parameters. */
function sqlSecret(statements: Array<Record<string, unknown>>, text: string, routine: Record<string, unknown> | undefined): string | undefined {
  return secretThroughSql([{ statements, text, writes: [] }], new Set(routineName(routine)), { given: parametersGivenConstants(routine) });
}

/**
 * What a routine's BEGIN ATOMIC (or RETURN) body, which the parser reads as any statement's, would hand the server
 * through a parameter whose DEFAULT is a string constant.
 */
function atomicSecret(routine: Record<string, any> | undefined): string | undefined {
  const body = routine?.sql_body as Record<string, any> | undefined;
  if (!body || parametersGivenConstants(routine).length === 0) return undefined;
  const statements = body.List ? (body.List.items as Array<Record<string, any>>).flatMap((item) => item.List?.items ?? []) : [body];
  return secretThroughVariables([{ statements, text: '', writes: [] }], new Set(routineName(routine)), { given: parametersGivenConstants(routine) });
}

/** Whether text (a string as written too: its escapes keep it here) may name a key setting or call a function that takes secrets. */
export function mayHoldSecret(text: string): boolean {
  return secretTakers().mention.test(text) || (MAY_NAME_AI.test(text) && NAMES_SETTINGS.test(text));
}

/** The statements of a text the parser reads whole. */
function statementsOf(text: string): Array<Record<string, unknown>> | undefined {
  try {
    return ((parseSync(text) as { stmts?: Array<{ stmt: Record<string, unknown> }> }).stmts ?? []).map(({ stmt }) => stmt);
  } catch {
    return undefined;
  }
}

/**
 * A key setting the code names, or a server setting it sets (`sets`) in code with an @ or a ? in any of its strings,
 * which may be part of a URL's user, password or query it sets it to, written whole or in pieces joined in SQL (review
 * P): the server would keep that URL in clear (api-key-statements.ts).
 */
function settingHandedOver(scanned: Scanned, setting: string | undefined, sets: boolean): string | undefined {
  const credentialsWritten = (): boolean => scanned.tokens.some((token) => isSqlString(token) && /[@?]/.test(stringContent(token)));
  if (sets && isServerSetting(setting) && credentialsWritten()) return `set ${setting!.toLowerCase()} to a URL that carries a user, a password or a query`;
  return isApiKeySetting(setting) ? `name the key setting ${setting.toLowerCase()}` : undefined;
}

/** What code the scanner cannot read (an unclosed quote of another language's) may do, as far as its text tells. */
function unreadable(code: string): string | undefined {
  const called = code.match(secretTakers().mention)?.[0];
  if (called) return `call a function that takes secrets (${called}) in code the proxy cannot read`;
  const setting = code.match(KEY_NAMED)?.[1];
  return setting === undefined ? undefined : `name the key setting ai.${setting.toLowerCase()} in code the proxy cannot read`;
}

/** What a call of a function that takes secrets (its name at `start`, its parenthesis at `open`) writes out. */
function secretCall({ tokens, text, length, foreign }: Scanned, parts: string[], start: number, open: number): string | undefined {
  if (!secretTakers().names.has(parts.at(-1)!.toLowerCase())) return undefined;
  const declarations = functionsCalled(parts);
  if (!declarations.some(takesSecret)) return undefined;
  const close = closingParenthesis(tokens, open);
  const call = text(tokens[start]!.start, close === undefined ? length : tokens[close]!.end);
  return writesSecret(call, foreign) ? `write out a secret argument of ${declarations[0]!.name}` : undefined;
}

/**
 * Whether a call (as text) gives a secret argument a string constant, or, in SQL, cannot be read to tell. In another
 * language's code, text the parser cannot read is that language's, not SQL.
 */
function writesSecret(call: string, foreign: boolean): boolean {
  const sql = `SELECT ${call}`;
  try {
    const tree = parseSync(sql) as { stmts?: Array<{ stmt: unknown }> };
    return secretLiterals(tree.stmts?.map(({ stmt }) => stmt), sql).length > 0;
  } catch {
    // Unreadable (cut short, a language's own syntax), or a secret computed from constants (computed-secrets.ts).
    return !foreign;
  }
}
