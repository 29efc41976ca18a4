// The text the proxy hands PostgreSQL's parser: nested comments flattened (their lexer reads them in time that grows
// with the square of their depth), long runs of operator characters refused, all else where it was.

import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, analyzeNow } from '../../src/intercept/analyze.js';
import { SessionLiteralSecrets } from '../../src/intercept/literal-secrets.js';
import { apiKeyValues } from '../../src/sql/api-key-statements.js';
import { masterKeySets } from '../../src/sql/master-key-statements.js';
import { codePoints, loadParser, parseStatements } from '../../src/sql/parse.js';
import { MAX_OPERATOR_RUN, parseSync, parserInput } from '../../src/sql/parser.js';

beforeAll(() => loadParser());

const REFERENCE = /'held by pg_llm proxy [0-9a-f]{32}'/g;

/** Where the parser's error is, in characters (from 1, as PostgreSQL counts). */
function errorPosition(sql: string): number {
  try {
    parseSync(sql);
  } catch (error) {
    return (error as { sqlDetails: { cursorPosition: number } }).sqlDetails.cursorPosition + 1;
  }
  throw new Error('parsed');
}

describe('the text the parser reads', () => {
  it('has no comment nested in another: a nested one is blanked, to one comment of the same bytes and characters', () => {
    const nested = `SELECT pg_llm_chat('m', 'x') ${'/*'.repeat(4080)}${'*/'.repeat(4080)}`;
    const input = parserInput(nested);
    expect(input.split('/*')).toHaveLength(2);
    expect(input.split('*/')).toHaveLength(2);
    expect(Buffer.byteLength(input)).toBe(Buffer.byteLength(nested));
    expect(input.length).toBe(nested.length);
    expect(parserInput('SELECT 1 /* a /* é */ * / b */ + 2')).toBe('SELECT 1 /* a    é        b */ + 2');
  });

  it('keeps literals, quoted identifiers and dollar quotes as they are, and the statement text sent on', async () => {
    const sql = `SELECT '/* a */', E'\\' /*', "/*x", $q$ /* $q$, a$b$c /* /* */ */ FROM t; SELECT 2`;
    expect(parserInput(sql)).toBe(`SELECT '/* a */', E'\\' /*', "/*x", $q$ /* $q$, a$b$c /*       */ FROM t; SELECT 2`);
    expect((await parseStatements(sql)).map(({ text, offset }) => [text, offset])).toEqual([
      [`SELECT '/* a */', E'\\' /*', "/*x", $q$ /* $q$, a$b$c /* /* */ */ FROM t`, 0],
      ['SELECT 2', sql.indexOf('SELECT 2')],
    ]);
  });

  it("reads an E'…' string's continuation on a new line as the parser does, backslashes and all", () => {
    const continued = "SELECT E'a'\n  '\\' /* ' + 1 */";
    expect(parserInput(continued)).toBe(continued);
    // Without a newline, the string ends; the comment is the parser's.
    expect(parserInput("SELECT E'a'  '\\' /* ' + 1 */")).toBe("SELECT E'a'  '\\' /* '   1 */");
  });

  it("keeps the parser's error positions, after a nested comment with characters of many bytes and in one left open", () => {
    const sql = 'SELECT 1 /* é /* ü */ ** */ FROM FROM';
    expect(errorPosition(sql)).toBe(codePoints(sql.slice(0, sql.lastIndexOf('FROM'))) + 1);
    expect(() => parseSync('SELECT 1 /* é /* ü */')).toThrow(/unterminated \/\* comment/);
    expect(errorPosition('SELECT ü, 1 /* é /* ü */')).toBe(13);
  });

  it('finds the secrets written after a nested comment, and holds the same bytes of the query string', () => {
    const sql = `SELECT /* é /* */ */ generate_query('q', /* /**/ */ 'sk-nested')`;
    const { secrets } = analyzeNow(sql);
    expect(secrets.map(({ value }) => value)).toEqual(['sk-nested']);
    expect(new SessionLiteralSecrets().hold(sql, secrets).replace(REFERENCE, 'R')).toBe(`SELECT /* é /* */ */ generate_query('q', /* /**/ */ R)`);
  });
});

describe('a run of operator characters', () => {
  it(`is refused in code over ${MAX_OPERATOR_RUN} characters (54001), however the run is made, and not taken for a syntax error`, async () => {
    for (const run of ['+'.repeat(MAX_OPERATOR_RUN + 1), '+-'.repeat(MAX_OPERATOR_RUN), '+/**/'.repeat(MAX_OPERATOR_RUN / 4)]) {
      await expect(parseStatements(`SELECT pg_llm_chat('m', 'x') ${run}1`)).rejects.toMatchObject({ sqlstate: '54001' });
      await expect(analyze(`SELECT pg_llm_chat('m', 'x') ${run}1`)).rejects.toMatchObject({ sqlstate: '54001' });
    }
  });

  it('is refused in SQL written out for an argument declared SQL, and where a statement may set a key', () => {
    const run = '+'.repeat(MAX_OPERATOR_RUN + 1);
    expect(() => analyzeNow(`SELECT pg_llm_estimate('SELECT 1 ${run}1')`)).toThrowError(expect.objectContaining({ sqlstate: '54001' }));
    expect(() => masterKeySets(`SET pg_llm.master_key TO 'k'; SELECT 1 ${run}1`)).toThrowError(expect.objectContaining({ sqlstate: '54001' }));
    expect(() => apiKeyValues(`SELECT set_config('ai.openai_api_key', 'k', false) ${run}1`)).toThrowError(expect.objectContaining({ sqlstate: '54001' }));
  });

  it('is parsed up to the limit, and counts not in literals and comments', async () => {
    expect(await parseStatements(`SELECT 1 ${'+-'.repeat(MAX_OPERATOR_RUN / 2 - 1)}1`)).toHaveLength(1);
    const long = '='.repeat(1000);
    expect(await parseStatements(`SELECT '${long}', $$${long}$$, "${long.slice(0, 60)}" /* ${long} */ -- ${'-'.repeat(1000)}\n`)).toHaveLength(1);
  });
});

describe('a statement nested deeper than the proxy walks', () => {
  it('is refused with 54001 rather than a stack overflow that ends the session', async () => {
    await loadParser();
    // 1,000 subqueries, 9 kB: read on the event loop; PostgreSQL itself runs it.
    const nested = `SELECT pg_llm_chat('m', (${'SELECT ('.repeat(1000)}'x'${')'.repeat(1000)}))`;
    expect(() => analyzeNow(nested)).toThrow(expect.objectContaining({ sqlstate: '54001', message: 'the statement is nested too deeply for the proxy to read' }));
  });
});

describe("the proxy's reads of SQL", () => {
  it('all go through src/sql/parser.ts, which hands the parser nothing it reads in quadratic time', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const root = new URL('../../', import.meta.url);
    const direct: string[] = [];
    for (const folder of ['src', 'functions', 'proxy']) {
      for (const file of await readdir(new URL(folder, root), { recursive: true })) {
        if (!file.endsWith('.ts') || `${folder}/${file}` === 'src/sql/parser.ts') continue;
        const text = await readFile(new URL(`${folder}/${file}`, root), 'utf8');
        if (/import\s*\{[^}]*\b(?:parseSync|scanSync)\b[^}]*\}\s*from\s*'libpg-query'/.test(text)) direct.push(`${folder}/${file}`);
      }
    }
    expect(direct).toEqual([]);
  });
});
