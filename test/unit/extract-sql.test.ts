// Finding the SQL in a model's answer, however the model wrote it.

import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_LOOP_JSON } from '../../src/json-structure.js';
import { sqlFromAnswer } from '../../src/sql/extract.js';

beforeAll(() => loadModule());

describe('the SQL in a model answer', () => {
  it.each([
    ['bare', 'SELECT 1', 'SELECT 1'],
    ['the JSON asked for', '{"sql": "SELECT a FROM t", "explanation": "All a."}', 'SELECT a FROM t'],
    ['JSON in a json fence', 'Here:\n```json\n{"sql": "SELECT 2"}\n```', 'SELECT 2'],
    ['an sql fence with prose around it', 'Try this:\n```sql\nSELECT b\n  FROM t;\n```\nIt reads b.', 'SELECT b\n  FROM t;'],
    ['an unlabelled fence', '```\nVALUES (1)\n```', 'VALUES (1)'],
    ['prose before and after', "Sure, I can select that for you:\nSELECT c FROM t WHERE c > 'it''s';\nThat's all, isn't it?", "SELECT c FROM t WHERE c > 'it''s';"],
    ['mid-line', 'The query is SELECT 3', 'SELECT 3'],
    ['two statements kept together for the check', 'SELECT 1;\nDROP TABLE t;\nDone.', 'SELECT 1;\nDROP TABLE t;'],
  ])('%s', async (_what, answer, sql) => {
    expect((await sqlFromAnswer(answer)).sql).toBe(sql);
  });

  it('keeps the explanation, warnings and suggested visualization of the JSON answer', async () => {
    expect(await sqlFromAnswer('{"sql": "SELECT 1", "explanation": " One. ", "warnings": ["w", 3, ""], "suggested_visualization": "bar"}')).toEqual({
      sql: 'SELECT 1',
      explanation: 'One.',
      warnings: ['w'],
      visualization: 'bar',
    });
  });

  it('an empty sql is the model declining, with its reason', async () => {
    await expect(sqlFromAnswer('{"sql": "", "explanation": "There is no table of invoices."}')).rejects.toThrow(
      expect.objectContaining({ sqlstate: '22023', detail: 'There is no table of invoices.' }),
    );
  });

  it('JSON past the bounds of JSON parsed on the event loop is read as text, never parsed', async () => {
    const declining = `{"sql": "", "explanation": "No.", "pad": [${Array(EVENT_LOOP_JSON.containers).fill('[]').join(',')}]}`;
    await expect(sqlFromAnswer(declining)).rejects.toThrow(expect.objectContaining({ sqlstate: '42601' }));
  });

  it('an answer without SQL is 42601', async () => {
    await expect(sqlFromAnswer("I'm afraid I can't do that.")).rejects.toThrow(expect.objectContaining({ sqlstate: '42601' }));
  });
});
