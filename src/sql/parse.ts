// PostgreSQL's own parser (libpg-query): a query string's statements, each with its parse tree and its own text.

import { loadModule } from 'libpg-query';
import { parseSync } from './parser.js';
import { parseTask, runParseTask } from './parse-task.js';

export interface ParsedStatement {
  node: Record<string, unknown>;
  /** The statement's text, without the semicolon after it. */
  text: string;
  /** Characters (code points, as PostgreSQL counts an error's position) before `text` in the query string. */
  offset: number;
}

/** Loads the parser's WebAssembly module; call once before parsing. */
export function loadParser(): Promise<void> {
  return loadModule();
}

/** Parses on the event loop: for text known to be small, or the proxy's own. Throws the parser's syntax error. */
export function parseStatementsNow(sql: string): ParsedStatement[] {
  const bytes = Buffer.from(sql, 'utf8');
  const result = parseSync(sql) as { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  // Counted on from one statement to the next, so a script of many is read once.
  let counted = { bytes: 0, characters: 0 };
  return (result.stmts ?? []).map((raw) => {
    const start = raw.stmt_location ?? 0;
    counted = { bytes: start, characters: counted.characters + codePoints(bytes.toString('utf8', counted.bytes, start)) };
    const whole = bytes.toString('utf8', start, raw.stmt_len ? start + raw.stmt_len : bytes.length);
    const { text, leading } = trimmedAsPostgresql(whole);
    return { node: raw.stmt, text, offset: counted.characters + codePoints(whole.slice(0, leading)) };
  });
}

/**
 * The text without the white space PostgreSQL's scanner skips around it ([ \t\n\r\f\v]), and how much was before
 * it. Not String.trim(): that takes U+00A0, U+3000 and other spaces as well, which PostgreSQL reads as part of a
 * name, so that `FROM pg_settings\u00a0;` would be checked as naming no relation and run as naming pg_settings.
 */
function trimmedAsPostgresql(whole: string): { text: string; leading: number } {
  let start = 0;
  let end = whole.length;
  while (start < end && POSTGRESQL_SPACE.has(whole.charCodeAt(start))) start++;
  while (end > start && POSTGRESQL_SPACE.has(whole.charCodeAt(end - 1))) end--;
  return { text: whole.slice(start, end), leading: start };
}

const POSTGRESQL_SPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b]);

const PARSE_STATEMENTS = parseTask(import.meta.url, 'parseStatementsNow', parseStatementsNow);

/** Parses where a big text holds up no other session (parse-task.ts). */
export function parseStatements(sql: string): Promise<ParsedStatement[]> {
  return runParseTask(PARSE_STATEMENTS, sql);
}

/** The characters of a text as PostgreSQL counts them (an error's position): code points. */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
