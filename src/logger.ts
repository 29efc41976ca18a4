// Structured JSON logs on stderr (pino). Connection secrets never reach a log: the proxy does not decode password
// messages, and upstream URLs are logged without credentials.

import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'pg-llm-proxy' } }, pino.destination({ dest: 2, sync: false }));
}
