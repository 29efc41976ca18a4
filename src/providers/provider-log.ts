// The proxy's log, where what goes wrong with model providers is told: silent until the proxy names its log at
// start-up, so that code run without one (a subcommand, a test) says nothing.

import { pino, type Logger } from 'pino';

let log: Logger = pino({ level: 'silent' });

export function setProviderLog(logger: Logger): void {
  log = logger;
}

export function providerLog(): Logger {
  return log;
}
