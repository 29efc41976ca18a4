// pgai's ai.loading_uri: the worker embeds the text of the document at each row's URI, fetched from a document server
// on loopback, which the operator allows (--document-hosts-allow) where a test says so. Text and markdown documents
// are served; what is not (other types, other schemes than http and https, link-local addresses, loopback where the
// operator has not allowed it, the proxy's own ports even where loopback is allowed, hosts the operator's
// provider-host policy refuses, documents over --max-response-bytes, a missing document) is refused for good, the row
// moved to the failed queue and the error recorded, without a request where the policy refuses the host.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/config.js';
import { configureProviderHttp } from '../../src/providers/http.js';
import { testAdminOfFile } from '../support/admin.js';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding } from '../support/fake-provider.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const admin = testAdminOfFile(() => suite.proxy);
const EVENTUALLY = { timeout: 20_000, interval: 100 };

/** Path → [Content-Type (none when undefined), body]. */
const DOCUMENTS: Record<string, [string | undefined, string]> = {
  '/alpha.txt': ['text/plain; charset=utf-8', 'the alpha document'],
  '/bravo.md': ['application/octet-stream', '# bravo notes'],
  '/charlie': ['text/markdown', 'charlie, by its type'],
  '/page.html': ['text/html', '<p>a page</p>'],
  '/big.txt': ['text/plain', 'x'.repeat(5000)],
  '/blob': ['application/octet-stream', 'no extension, no text type'],
};

/**
 * A server on loopback `host` that answers `/redirect…?to=TARGET` with a redirect to TARGET, and DOCUMENTS. It keeps
 * no connection open: one kept from an earlier test would be used again without the policy this test sets.
 */
async function documentServer(host: string, asked: string[]): Promise<[http.Server, string]> {
  const server = http.createServer((request, response) => {
    asked.push(`${request.headers.host} ${request.url}`);
    response.setHeader('connection', 'close');
    const url = new URL(request.url ?? '/', 'http://any');
    if (url.pathname.startsWith('/redirect')) return void response.writeHead(302, { location: url.searchParams.get('to')! }).end();
    const document = DOCUMENTS[url.pathname];
    if (!document) return void response.writeHead(404).end('not here');
    response.writeHead(200, document[0] ? { 'content-type': document[0] } : {}).end(document[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return [server, `${host}:${(server.address() as AddressInfo).port}`];
}

let documents: http.Server;
let root = '';
const asked: string[] = [];
/** Another loopback address, which a test may allow while 127.0.0.1 stays refused. */
let other: http.Server;
let otherRoot = '';
const otherAsked: string[] = [];

beforeAll(async () => {
  [documents, root] = await documentServer('127.0.0.1', asked);
  [other, otherRoot] = await documentServer('127.0.0.2', otherAsked);
});
afterAll(() => Promise.all([documents, other].map((server) => new Promise<void>((resolve) => server.close(() => resolve())))));

/** The operator's document-host allow list (and other provider settings) for this test. */
function allowDocumentHosts(allow: string, settings: Parameters<typeof configureProviderHttp>[0] = {}): void {
  const parsed = parseCommandLine(['--document-hosts-allow', allow], {});
  if (parsed.kind !== 'run') throw new Error('not a run command');
  configureProviderHttp({ ...settings, documentHosts: parsed.config.documentHosts });
  afterThisTest(async () => configureProviderHttp({}));
}

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** alice's table of the URIs given, by id, and her vectorizer over it with ai.loading_uri; the worker started. */
async function alicesDocuments(uris: Record<number, string | null>): Promise<pg.Client> {
  const { name, alice } = await alicesTable(suite.proxy);
  for (const [id, uri] of Object.entries(uris)) await alice.query(`INSERT INTO alice.docs VALUES ($1, 't', $2)`, [Number(id), uri]);
  await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_uri('body'),
                       embedding => ai.embedding_openai('text-embedding-3-small', 4), chunking => ai.chunking_none())`);
  suite.fake.requests.length = 0;
  asked.length = 0;
  otherAsked.length = 0;
  startWorker(name, {}, { env: { OPENAI_API_KEY: 'sk-vectorizer-0123456789', OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
  await expect.poll(async () => (await rows(alice, `SELECT ai.vectorizer_queue_pending(1, exact_count => true) AS n`))[0].n, EVENTUALLY).toBe('0');
  return alice;
}

const stored = (alice: pg.Client) => rows(alice, `SELECT id, chunk, embedding FROM alice.docs_embedding_store ORDER BY id`);
const failedRows = (alice: pg.Client) => rows(alice, `SELECT id, failure_step FROM alice._vectorizer_q_failed_1 ORDER BY id`);
const errors = (alice: pg.Client) => rows(alice, `SELECT message FROM ai.vectorizer_errors ORDER BY recorded`);

describe("ai.loading_uri's documents", () => {
  it('embeds text and markdown documents, and refuses for good the others, other schemes and link-local addresses', async () => {
    allowDocumentHosts('127.0.0.1');
    const alice = await alicesDocuments({
      1: `http://${root}/alpha.txt`,
      2: `http://${root}/bravo.md`,
      3: `http://${root}/charlie`,
      4: `http://${root}/page.html`,
      5: 'file:///etc/passwd',
      6: 'http://169.254.169.254/latest/meta-data/',
      7: `http://${root}/missing.txt`,
      8: null,
    });
    await expect.poll(() => failedRows(alice), EVENTUALLY).toHaveLength(4);
    expect(await stored(alice)).toEqual(
      [[1, 'the alpha document'], [2, '# bravo notes'], [3, 'charlie, by its type']].map(([id, chunk]) => ({ id, chunk, embedding: fakeEmbedding(chunk as string) })),
    );
    expect(await failedRows(alice)).toEqual([4, 5, 6, 7].map((id) => ({ id, failure_step: 'loading' })));
    expect((await errors(alice)).map((error) => error.message).sort()).toEqual([
      `the row's document is not loaded: ${root} answered 404 for the document`,
      "the row's document is not loaded: loading_uri fetches http and https documents only, not file ones",
      "the row's document is not loaded: parsing a document of type text/html is not served by the proxy: it takes text and markdown documents only",
      "the row's document is not loaded: the operator's document-host policy refuses 169.254.169.254",
    ]);
    expect(asked.sort()).toEqual(['/alpha.txt', '/bravo.md', '/charlie', '/missing.txt', '/page.html'].map((path) => `${root} ${path}`));
  });

  it("keeps to the operator's provider-host policy and --max-response-bytes", async () => {
    allowDocumentHosts('127.0.0.1,localhost', { maxResponseBytes: 1000, hosts: { allow: [], deny: [{ name: 'localhost' }] } });
    const port = root.split(':')[1];
    const alice = await alicesDocuments({ 1: `http://localhost:${port}/alpha.txt`, 2: `http://${root}/big.txt`, 3: `http://${root}/alpha.txt` });
    await expect.poll(() => failedRows(alice), EVENTUALLY).toEqual([1, 2].map((id) => ({ id, failure_step: 'loading' })));
    expect((await stored(alice)).map((row) => row.id)).toEqual([3]);
    expect((await errors(alice)).map((error) => error.message).sort()).toEqual([
      `the row's document is not loaded: the document at ${root} is larger than the limit of 1000 bytes`,
      `the row's document is not loaded: the operator's document-host policy refuses localhost:${port}`,
    ]);
    expect(asked.filter((request) => request.startsWith('localhost'))).toEqual([]);
  });

  it('refuses loopback and private addresses unless the operator allows them, in any spelling', async () => {
    const port = root.split(':')[1];
    const alice = await alicesDocuments({
      1: `http://${root}/alpha.txt`,
      2: `http://localhost:${port}/alpha.txt`,
      3: `http://[::ffff:127.0.0.1]:${port}/alpha.txt`,
      4: `http://[::1]:${port}/alpha.txt`,
      5: 'http://10.1.2.3/alpha.txt',
      6: 'http://[::ffff:192.168.0.1]/alpha.txt',
      7: 'http://100.64.0.1/alpha.txt',
      8: 'http://[fd12::1]/alpha.txt',
    });
    await expect.poll(() => failedRows(alice), EVENTUALLY).toHaveLength(8);
    expect(await stored(alice)).toEqual([]);
    const refused = ['127.0.0.1', 'localhost', '[::ffff:7f00:1]', '[::1]'].map((host) => `${host}:${port}`).concat('10.1.2.3', '[::ffff:c0a8:1]', '100.64.0.1', '[fd12::1]');
    expect((await errors(alice)).map((error) => error.message).sort()).toEqual(refused.map((host) => `the row's document is not loaded: the operator's document-host policy refuses ${host}`).sort());
    expect(asked).toEqual([]);
  });

  it("refuses the proxy's own ports and its admin server even where loopback is allowed, directly or by a redirect", async () => {
    allowDocumentHosts('127.0.0.0/8,::1,localhost');
    const adminPort = new URL(admin.base).port;
    const alice = await alicesDocuments({
      1: `${admin.base}/metrics`,
      2: `http://localhost:${adminPort}/metrics`,
      3: `http://[::ffff:127.0.0.1]:${adminPort}/metrics`,
      4: `http://${root}/redirect?to=${encodeURIComponent(`${admin.base}/metrics`)}`,
      5: `http://127.0.0.1:${suite.proxy.port}/alpha.txt`,
      6: `http://${root}/alpha.txt`,
    });
    await expect.poll(() => failedRows(alice), EVENTUALLY).toHaveLength(5);
    expect(await stored(alice)).toEqual([{ id: 6, chunk: 'the alpha document', embedding: fakeEmbedding('the alpha document') }]);
    const messages = (await errors(alice)).map((error) => error.message);
    expect(messages).toHaveLength(5);
    for (const message of messages) expect(message).toMatch(/^the row's document is not loaded: the operator's document-host policy refuses /);
  });

  it('checks where a redirect leads, and takes the type by extension from where the document was read', async () => {
    allowDocumentHosts('127.0.0.2');
    const alice = await alicesDocuments({
      1: `http://${otherRoot}/redirect?to=${encodeURIComponent(`http://${root}/alpha.txt`)}`,
      2: `http://${otherRoot}/redirect.txt?to=/blob`,
      3: `http://${otherRoot}/redirect?to=/bravo.md`,
    });
    await expect.poll(() => failedRows(alice), EVENTUALLY).toHaveLength(2);
    expect(await stored(alice)).toEqual([{ id: 3, chunk: '# bravo notes', embedding: fakeEmbedding('# bravo notes') }]);
    expect((await errors(alice)).map((error) => error.message).sort()).toEqual([
      "the row's document is not loaded: parsing a document of type application/octet-stream is not served by the proxy: it takes text and markdown documents only",
      `the row's document is not loaded: the operator's document-host policy refuses ${otherRoot}`,
    ]);
    expect(asked).toEqual([]);
    expect(otherAsked.map((request) => request.split(' ')[1]!.split('?')[0]).sort()).toEqual(['/blob', '/bravo.md', '/redirect', '/redirect', '/redirect.txt']);
  });
});
