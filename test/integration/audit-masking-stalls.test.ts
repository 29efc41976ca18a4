// pg_llm.redact_sensitive (on by default) masks the text of audit and trace rows on the event loop all sessions
// share, with patterns: its e-mail pattern was retried from every word boundary of a run of address characters to
// the end of the run, so a role's own server naming its model "a.a.a.…" (80 kB, far under --max-response-bytes) in
// its answer, which the audit row kept, froze every session of the proxy for 8 s a call, its square for a longer
// name; and so did SQL a role's model wrote, kept by the trace. The audit row now keeps no model name longer than
// any model's.

import { describe, expect, it } from 'vitest';
import { maskSecrets } from '../../src/catalog/redaction.js';
import { clientOf } from '../support/pg-ai.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { longestDelayMs } from '../support/stall-probes.js';

const shared = proxyAndFakeProvider();
/** A text that is all address characters and word boundaries, with no @. */
const DOTTED = 'a.'.repeat(40_000);

describe("an audit or trace row's text", () => {
  it("keeps the name of the model asked for when a role's server names the answering one at an answer's length", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, model_name: 'gpt-asked' });
    const client = await clientOf(shared.proxy, name, 'trust');
    shared.fake.script({ kind: 'answer', content: 'ok', model: DOTTED });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'a') AS answer`)).rows).toEqual([{ answer: 'ok' }]);
    shared.fake.script({ kind: 'answer', content: 'ok', model: 'gpt-asked-2026-12-01' });
    await client.query(`SELECT pg_llm_chat('llm', 'b') AS answer`);
    const audit = await client.query(`SELECT metadata->>'model_name' AS model FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'chat' ORDER BY id`);
    expect(audit.rows).toEqual([{ model: 'gpt-asked' }, { model: 'gpt-asked-2026-12-01' }]);
  });

  it("holding SQL a role's model wrote is masked without holding up the other sessions", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 }, 'sk-mallory-own-key-0123456789abcdefghijklmn');
    const heavy = await clientOf(shared.proxy, name, 'trust');
    await heavy.query('SET pg_llm.trace_enabled = on');
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    shared.fake.script({ kind: 'answer', content: `\`\`\`sql\nSELECT '${DOTTED}' AS dotted\n\`\`\`` });
    const answered = heavy.query(`SELECT pg_llm_text2sql('llm', 'a') AS sql`);
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual([{ sql: `SELECT '${DOTTED}' AS dotted` }]);
    const trace = await heavy.query(`SELECT detail->>'sql' AS sql FROM _pg_llm_catalog.pg_llm_trace_log WHERE step = 'generated_sql'`);
    expect(trace.rows).toEqual([{ sql: `SELECT '${DOTTED}' AS dotted` }]);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);

  it('still masks e-mail addresses, keys and credentials', () => {
    expect(maskSecrets('mail ann.lee+x@mail.example.com, or .bob@example.org; key sk-0123456789abcdef token=abc')).toBe(
      'mail ****@****, or .****@****; key sk-**** token=****',
    );
  });
});
