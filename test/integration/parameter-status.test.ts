// What a client is told of the settings a statement with calls changes. The proxy runs such a statement more than
// once (a collect pass in a savepoint rolled back, then the final pass), and the server reports a reported setting's
// value each time it changes: the set_config of the collect pass, the rollback's undoing of it, the final pass's. A
// driver that follows those reports (client_encoding, TimeZone, DateStyle…) saw the value flip to and fro; it now
// sees the statement's one change, as without the proxy.

import { ParameterStatusMessage } from 'pg-protocol/dist/messages.js';
import { expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();

it('reports a setting a statement with calls changes once, with its final value', async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const raw = await RawClient.session(shared.proxy.port, { database: name, application_name: 'before' });
  try {
    // The call inside an expression: the passes run the statement whole.
    raw.send(serialize.query(`SELECT set_config('application_name', 'after', false), length(pg_llm_chat('llm', 'hello'))`));
    const messages = await raw.until('readyForQuery');
    const reports = messages.flatMap((message) => (message instanceof ParameterStatusMessage && message.parameterName === 'application_name' ? [message.parameterValue] : []));
    expect(reports).toEqual(['after']);
    // PostgreSQL reports changed settings just before ReadyForQuery.
    expect(messages.map((message) => message.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'parameterStatus', 'readyForQuery']);
  } finally {
    raw.end();
  }
});
