// The operator's log tells each session's start and end at info, with the client's address: IP and port over TCP,
// "unix socket" on the Unix-domain socket; a password the client sends never appears in it.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { startProxy } from '../support/proxy.js';

describe('the session log', () => {
  it('tells each session start and end at info, with the client address', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (line, _encoding, done) => done(void logged.push(JSON.parse(String(line)))) }));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-sock-'));
    const proxy = await startProxy({ socketDir: dir, log, passThrough: true });
    const { user, password } = ROLES.password;
    try {
      for (const [host, client] of [['127.0.0.1', /^127\.0\.0\.1:\d+$/], [dir, /^unix socket$/]] as const) {
        const connected = new pg.Client({ host, port: proxy.port, user, password, database: 'postgres' });
        await connected.connect();
        await connected.end();
        const lines = (): Array<Record<string, unknown>> => logged.filter((line) => client.test(String(line.client)));
        await expect.poll(() => lines().map((line) => line.msg)).toEqual(['session started', 'session ended']);
        const expected = { client: expect.stringMatching(client), user, database: 'postgres', level: 30 };
        expect(lines()).toEqual([
          expect.objectContaining({ ...expected, msg: 'session started' }),
          expect.objectContaining({ ...expected, msg: 'session ended', duration_ms: expect.any(Number) }),
        ]);
      }
      expect(JSON.stringify(logged)).not.toContain(password);
    } finally {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
