// pg_llm.redact_sensitive (on by default) masks the text of audit and trace rows on the event loop all sessions
// share, with patterns: its e-mail pattern was retried from every word boundary of a run of address characters to
// the end of the run, so a role's own server naming its model "a.a.a.…" (80 kB, far under --max-response-bytes) in
// its answer, which the audit row keeps, froze every session of the proxy for 8 s a call, its square for a longer
// name; and so did SQL a role's model wrote, kept by the trace.

import { describe, expect, it } from 'vitest';
import { maskSecrets } from '../../src/catalog/redaction.js';
import { clientOf } from '../support/pg-ai.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { longestDelayMs } from '../support/stall-probes.js';

const shared = proxyAndFakeProvider();
/** A name that is all address characters and word boundaries, with no @. */
const DOTTED = 'a.'.repeat(40_000);

describe("an audit row's text", () => {
  it("holding the model name a role's server answers is masked without holding up the other sessions", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 }, 'sk-mallory-own-key-0123456789abcdefghijklmn');
    const heavy = await clientOf(shared.proxy, name, 'trust');
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    shared.fake.script({ kind: 'answer', content: 'ok', model: DOTTED });
    const answered = heavy.query(`SELECT pg_llm_chat('llm', 'a') AS answer`);
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual([{ answer: 'ok' }]);
    const audit = await heavy.query(`SELECT metadata->>'model_name' AS model FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'chat'`);
    expect(audit.rows).toEqual([{ model: DOTTED }]);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);

  it('still masks e-mail addresses, keys and credentials', () => {
    expect(maskSecrets('mail ann.lee+x@mail.example.com, or .bob@example.org; key sk-0123456789abcdef token=abc')).toBe(
      'mail ****@****, or .****@****; key sk-**** token=****',
    );
  });
});
