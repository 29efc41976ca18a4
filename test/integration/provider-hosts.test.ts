// Which hosts a model may make the proxy call: any role chooses its model's base_url, so the operator's policy
// (--provider-hosts-allow, --provider-hosts-deny; link-local and metadata addresses always refused) is applied to
// the address a name resolves to, in whatever spelling the URL gives it, before a socket exists; the proxy's own
// ports (its admin server's among them) are never asked; and a failed connection reads the same whatever failed.

import net, { type AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/config.js';
import { configureProviderHttp } from '../../src/providers/http.js';
import { startTestAdmin } from '../support/admin.js';
import { capturedProviderLog } from '../support/captured-log.js';
import { freePort } from '../support/cluster.js';
import { afterThisTest, clientThrough } from '../support/database.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { roles } from '../support/roles.js';

const shared = proxyAndFakeProvider();
const REFUSED = { code: '42501', message: expect.stringContaining("provider-host policy refuses"), hint: expect.stringContaining('--provider-hosts-deny') };

afterEach(() => configureProviderHttp({}));

/** The operator's provider-host policy as the command line gives it. */
function operatorHosts(...args: string[]) {
  const command = parseCommandLine(args, {});
  if (command.kind !== 'run') throw new Error('not a run command');
  return command.config.providerHosts;
}

/** Points the model `instance` at `baseUrl`, failing fast: one attempt, a short connect timeout. */
async function pointAt(client: pg.Client, baseUrl: string, instance = 'llm'): Promise<void> {
  const config = { provider: 'openai', model_name: 'gpt-test', base_url: baseUrl, max_retries: 0, connect_timeout_ms: 500 };
  await client.query(`SELECT pg_llm_add_model(true, 'openai', $1, $2, $3)`, [instance, API_KEY, JSON.stringify(config)]);
}

async function chatError(client: pg.Client, instance = 'llm'): Promise<{ code?: string; message: string; hint?: string }> {
  return client.query(`SELECT pg_llm_chat($1, 'hi')`, [instance]).then(
    () => ({ message: 'answered' }),
    (error: { code?: string; message: string; hint?: string }) => error,
  );
}

/** A TCP server on loopback that does `onConnection` with each socket, and counts them. */
async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise((resolve) => (sockets.forEach((socket) => socket.destroy()), server.close(() => resolve()))));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('provider-host policy', () => {
  it('refuses link-local and metadata addresses, in every spelling, whatever the operator allows', async () => {
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-allow', '0.0.0.0/0,::/0') });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    for (const address of ['169.254.169.254', '2852039166', '[::ffff:169.254.169.254]', '[fd00:ec2::254]', '[fe80::1]', '100.100.100.200']) {
      await pointAt(client, `http://${address}/v1`);
      expect(await chatError(client)).toMatchObject(REFUSED);
    }
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('judges a name by the addresses it resolves to, before connecting', async () => {
    const listener = await tcpServer((socket) => socket.destroy());
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-deny', '127.0.0.0/8,::1') });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await pointAt(client, `http://localhost:${listener.port}/v1`);
    expect(await chatError(client)).toMatchObject({ ...REFUSED, message: expect.stringContaining(`refuses localhost:${listener.port}`) });
    await pointAt(client, `http://127.0.0.1:${listener.port}/v1`);
    expect(await chatError(client)).toMatchObject(REFUSED);
    expect(listener.connections()).toBe(0);
  });

  it('an allow list admits only the names and ranges it holds', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-allow', '*.example.com,10.0.0.0/8') });
    shared.fake.script({ kind: 'answer', content: 'reached' });
    expect(await chatError(client)).toMatchObject(REFUSED);
    expect(shared.fake.requests).toHaveLength(0);
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-allow', '*.example.com,127.0.0.1') });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'reached' }]);
  });

  it('the default model goes through the same policy', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'mock');
    const client = await clientThrough({ defaults: { env: { OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: 'http://169.254.169.254/v1' } } }, name);
    await expect(client.query(`SELECT llm_ask('question')`)).rejects.toMatchObject(REFUSED);
  });
});

describe('spellings of an address', () => {
  it("are judged as the address they spell: a loopback deny holds for decimal, octal, hex and IPv6-mapped forms", async () => {
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-deny', '127.0.0.0/8,::1') });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const port = new URL(shared.fake.baseUrl).port;
    shared.fake.script({ kind: 'answer', content: 'reached loopback' });
    for (const host of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', '0x7f000001', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:7f00:1]']) {
      await pointAt(client, `http://${host}:${port}/v1`);
      expect({ host, error: await chatError(client) }).toMatchObject({ host, error: REFUSED });
    }
    expect(shared.fake.requests).toHaveLength(0);
  });
});

describe("the proxy's own ports", () => {
  it('are never asked by a model, whoever registers it and however the address is spelled; the refusal reads as a closed port does', async () => {
    const { lines: logged } = capturedProviderLog('warn');
    // The admin server trusts loopback without a token: its 404 page, or an answer read back, would reach the caller.
    const { app, base } = await startTestAdmin(shared.proxy);
    afterThisTest(() => app.close());
    let adminConnections = 0;
    app.server.on('connection', () => adminConnections++);
    const adminPort = new URL(base).port;
    const [bob] = await roles('bob');
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await client.query(`SET ROLE ${bob}`);
    const closed = `http://127.0.0.1:${await freePort()}/v1`;
    await pointAt(client, closed, 'bobs');
    const told = async () => (({ code, message, hint }) => ({ code, message, hint }))(await chatError(client, 'bobs'));
    const closedPort = await told();
    expect(closedPort).toMatchObject({ code: '39001', message: `could not reach provider at ${new URL(closed).host}` });

    const own = [base, `http://localhost:${adminPort}`, `http://[::ffff:7f00:1]:${adminPort}`, `http://2130706433:${adminPort}`, `http://127.0.0.1:${shared.proxy.port}`];
    for (const target of own) {
      await pointAt(client, `${target}/v1`, 'bobs');
      const { hostname, port } = new URL(target);
      expect({ target, told: await told() }).toEqual({ target, told: { ...closedPort, message: `could not reach provider at ${hostname}:${port}` } });
    }
    expect(adminConnections).toBe(0);
    expect(logged.join('')).toContain('EOWNPORT');
  });
});

describe('connection failures', () => {
  it('read the same for a closed port, a reset, garbage and a failed TLS handshake; the log has the cause', async () => {
    const { lines: logged } = capturedProviderLog('warn');
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const reset = await tcpServer((socket) => socket.resetAndDestroy());
    const garbage = await tcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const targets = [
      `http://127.0.0.1:${await freePort()}`,
      `http://127.0.0.1:${reset.port}`,
      `http://127.0.0.1:${garbage.port}`,
      `https://127.0.0.1:${garbage.port}`,
    ];
    const messages = [];
    for (const target of targets) {
      await pointAt(client, `${target}/v1/secret-path?api-key=sk-in-the-query`);
      const error = await chatError(client);
      expect(error).toMatchObject({ code: '39001' });
      messages.push(error.message.replace(/:\d+$/, ':PORT'));
    }
    expect(new Set(messages)).toEqual(new Set(['could not reach provider at 127.0.0.1:PORT']));
    expect(logged.join('')).toContain('ECONNREFUSED');
    expect(logged.join('')).toContain('"model_instance":"llm"');
    expect(logged.join('')).not.toContain('sk-in-the-query');
  });
});
