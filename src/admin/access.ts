// Who may read the admin server. With --admin-token, every path but the probes (/healthz, /readyz) asks for it: as
// `Authorization: Bearer TOKEN` (a scraper, curl), or, for the dashboard in a browser, opened once as /?token=TOKEN,
// which answers with a cookie and sends the browser on to / so that the token leaves the address bar. The cookie
// holds a value derived from the token, not the token. Comparisons take the same time wherever they differ, and
// nothing here logs.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const OPEN_PATHS = new Set(['/healthz', '/readyz']);
const COOKIE = 'pg_llm_admin';
/** A token shorter than this is refused: it must not be guessable over an open port. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether an address to listen on is this machine's alone: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const address = host.replace(/^::ffff:/i, '');
  return (isIP(address) === 4 && address.startsWith('127.')) || host === '::1';
}

/**
 * Without a token (a loopback listener), every request but the probes' must name a loopback host: a web page the
 * operator opens could otherwise read the dashboard through a name of its own that resolves to 127.0.0.1 (DNS
 * rebinding), as the browser would take the answer for that name's.
 */
export function requireLoopbackHost(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const [path] = request.url.split('?');
    if (OPEN_PATHS.has(path!)) return;
    const host = (request.headers.host ?? '').replace(/:\d*$/, '').replace(/^\[(.*)\]$/, '$1');
    if (isLoopback(host)) return;
    return reply.code(421).send({ error: 'misdirected request', hint: 'Without --admin-token the admin server answers only requests addressed to localhost or a loopback address.' });
  });
}

/** Makes every request but the probes' show the token first. */
export function requireToken(app: FastifyInstance, token: string): void {
  const digest = sha256(token);
  const cookieValue = createHmac('sha256', token).update('pg_llm admin dashboard').digest('base64url');
  const matches = (given: string | undefined, expected: Buffer): boolean => given !== undefined && timingSafeEqual(sha256(given), expected);
  const cookieDigest = sha256(cookieValue);
  app.addHook('onRequest', async (request, reply) => {
    const [path, query = ''] = request.url.split(/\?(.*)/s);
    if (OPEN_PATHS.has(path!)) return;
    if (matches(/^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')?.[1], digest)) return;
    if (matches(cookieOf(request), cookieDigest)) return;
    if (path === '/' && matches(new URLSearchParams(query).get('token') ?? undefined, digest)) {
      return reply.code(303).header('set-cookie', `${COOKIE}=${cookieValue}; Path=/; HttpOnly; SameSite=Strict`).header('location', './').send();
    }
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="pg_llm admin"')
      .send({ error: 'unauthorized', hint: 'Send Authorization: Bearer <the --admin-token>, or open the dashboard once as /?token=<the --admin-token>.' });
  });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function cookieOf(request: FastifyRequest): string | undefined {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const [name, value] = pair.trim().split(/=(.*)/s);
    if (name === COOKIE) return value;
  }
  return undefined;
}
