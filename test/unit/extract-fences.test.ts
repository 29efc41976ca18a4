// Fences in a model's answer are found in one pass however the answer is written: the answer is any role's server's
// to choose (review 4, finding 1), so the search must not backtrack over the rest of the answer at each ```.

import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { sqlFromAnswer } from '../../src/sql/extract.js';

beforeAll(() => loadModule());

async function outcomeOf(answer: string): Promise<string> {
  return sqlFromAnswer(answer).then((found) => `found ${found.sql}`, (error: { sqlstate?: string }) => `error ${error.sqlstate}`);
}

describe('fences in a model answer', () => {
  // 240 kB each, far under any cap. Before the fix each took over a minute (a lazy fence pattern, retried from every
  // ``` to the end of the answer), and failed on the test's timeout; the assertion itself is on the outcome.
  it.each([
    ['unclosed fences without a line end', '```x'.repeat(60_000)],
    ['unclosed sql fences without a line end', '```sql '.repeat(34_000)],
  ])('%s: the answer holds no SQL (42601)', async (_what, answer) => {
    expect(await outcomeOf(answer)).toBe('error 42601');
  });

  it('many closed fences in a row are still read, the first SQL one wins', async () => {
    const answer = '```text\nnot sql\n```\n'.repeat(20_000) + '```sql\nSELECT 42\n```';
    expect((await sqlFromAnswer(answer)).sql).toBe('SELECT 42');
  }, 60_000);

  it('a fence closed on the line after its opening is an empty block, as the pattern read it', async () => {
    expect((await sqlFromAnswer('```json\n```\n```sql\nSELECT 7\n```')).sql).toBe('SELECT 7');
  });

  it('only the start of a huge answer is searched', async () => {
    // A fence past the searched length is not looked for; the answer's start is prose without SQL.
    const answer = `${'words and more words. '.repeat(200_000)}\n\`\`\`sql\nSELECT 9\n\`\`\``;
    expect(await outcomeOf(answer)).toBe('error 42601');
  }, 60_000);
});
