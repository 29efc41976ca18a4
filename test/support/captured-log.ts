// Loggers whose lines the test reads, one JSON text a line, as the proxy writes them.

import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';
import { setProviderLog } from '../../src/providers/provider-log.js';
import { afterThisTest } from './database.js';

export function capturedLog(level: Level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level }, new Writable({ write: (line, _encoding, done) => done(void lines.push(String(line))) })), lines };
}

/**
 * A captured log that is also the providers' (provider-log.ts), as the proxy's one log is (main.ts); the providers'
 * is silent again after the test.
 */
export function capturedProviderLog(level: Level = 'debug'): { log: Logger; lines: string[] } {
  const captured = capturedLog(level);
  setProviderLog(captured.log);
  afterThisTest(async () => setProviderLog(pino({ level: 'silent' })));
  return captured;
}
