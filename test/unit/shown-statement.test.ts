import { describe, expect, it } from 'vitest';
import { shownName, shownStatement } from '../../src/admin/shown-statement.js';

const KEY = 'sk-live-0123456789abcdefghij';

describe('shownStatement', () => {
  it('hides every literal, however quoted, and keeps the shape', () => {
    expect(shownStatement(`SELECT pg_llm_add_model(false, 'openai', 'm', '${KEY}', '{"model_name": "gpt-4o"}')`, true)).toBe(
      "SELECT pg_llm_add_model(false, '…', '…', '…', '…')",
    );
    expect(shownStatement(`SELECT E'it\\'s ${KEY}', $$${KEY}$$, $k$ a $$ b ${KEY} $k$, 'a''${KEY}'`, true)).toBe("SELECT E'…', '…', '…', '…'");
    expect(shownStatement(`SELECT "it's" FROM t WHERE id = $1`, true)).toBe(`SELECT "it's" FROM t WHERE id = $1`);
    // A dollar quote's tag may be of any length.
    const tag = `$${'a'.repeat(70)}$`;
    expect(shownStatement(`ALTER ROLE x PASSWORD ${tag}hunter2${tag}`, true)).toBe("ALTER ROLE x PASSWORD '…'");
  });

  it('hides all from a literal holding a backslash, whose end standard_conforming_strings decides', () => {
    // With the setting on, the key is a second literal; with it off, the first literal's \' is a quote inside it.
    expect(shownStatement(`SELECT 'a\\', '${KEY}'`, true)).toBe("SELECT '…'");
    expect(shownStatement(`SELECT 'a\\', ${KEY.slice(3)}, '' FROM t`, true)).toBe("SELECT '…'");
  });

  it('hides comments, and a literal the kept head cuts in two to its end', () => {
    expect(shownStatement(`SELECT 1 -- ${KEY}\n, 2 /* a /* ${KEY} */ b */`, true)).toBe('SELECT 1 , 2');
    expect(shownStatement(`SELECT pg_llm_chat('m', 'what about ${KEY.slice(0, 10)}`, false)).toBe("SELECT pg_llm_chat('…', '…'…");
  });

  it('hides the value of a SET of a dotted setting, quoted or not', () => {
    expect(shownStatement('SET pg_llm.master_key = deadbeef0123456789; SELECT 1', true)).toBe('SET pg_llm.master_key = …; SELECT 1');
    expect(shownStatement('SET SESSION ai.openai_api_key TO abcdef', true)).toBe('SET SESSION ai.openai_api_key TO …');
    expect(shownStatement('ALTER ROLE alice SET pg_llm.master_key = abcdef', true)).toBe('ALTER ROLE alice SET pg_llm.master_key = …');
    expect(shownStatement('SET "pg_llm".U&"master\\005fkey" = abcdef', true)).toBe('SET "pg_llm".U&"master\\005fkey" = …');
    expect(shownStatement('SET search_path = public', true)).toBe('SET search_path = public');
    // One quoted part holding the dot, or an escape spelling it: PostgreSQL takes either as pg_llm.master_key.
    expect(shownStatement('SET "pg_llm.master_key" TO unquotedsecret', true)).toBe('SET "pg_llm.master_key" TO …');
    expect(shownStatement('ALTER ROLE bob SET U&"ai\\002eopenai_api_key" = abcdef', true)).toBe('ALTER ROLE bob SET U&"ai\\002eopenai_api_key" = …');
    // A value written as a quoted identifier, a ; in it, or cut by the head's end.
    expect(shownStatement('SET ai.openai_api_key = "abc;deadbeef0123SECRETTAIL"; SELECT pg_sleep(3)', true)).toBe('SET ai.openai_api_key = …; SELECT pg_sleep(3)');
    expect(shownStatement('SET ai.openai_api_key = "abc;dead""beefSECRETTAIL', false)).toBe('SET ai.openai_api_key = ……');
  });

  it('masks what the audit redaction masks, and cuts a long statement', () => {
    expect(shownStatement(`SELECT * FROM t WHERE ${KEY} IS NULL`, true)).toBe('SELECT * FROM t WHERE sk-**** IS NULL');
    const long = shownStatement(`SELECT ${'x, '.repeat(500)}1`, true);
    expect([...long]).toHaveLength(301);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('shownName', () => {
  it('keeps what PostgreSQL would keep of a name a client sent before it was authenticated, printable', () => {
    expect(shownName(`app\u202Eevil\u0007${'x'.repeat(3000)}`)).toBe(`appevil${'x'.repeat(56)}`);
    expect(shownName('psql')).toBe('psql');
  });
});
