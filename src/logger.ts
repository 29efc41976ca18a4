// Logs on stderr (pino): JSON lines for log collectors, or pino-pretty's lines for a person at a terminal. Connection
// secrets never reach a log: the proxy does not decode password messages, and upstream URLs are logged without
// credentials.

import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Pretty for a person at a terminal, JSON for anything else. */
export function defaultLogFormat(): LogFormat {
  return process.stderr.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: string, format: LogFormat = defaultLogFormat()): Logger {
  const destination =
    format === 'pretty'
      ? PinoPretty({ destination: 2, sync: false, colorize: Boolean(process.stderr.isTTY), singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
      : pino.destination({ dest: 2, sync: false });
  return pino({ level, base: { service: 'pg-llm-proxy' } }, destination);
}
