// Opens connections to the upstream PostgreSQL: TCP or Unix socket, then TLS negotiated on its own terms
// (libpq's sslmode semantics), independently of whether the client spoke TLS to the proxy.

import net from 'node:net';
import tls from 'node:tls';
import { endsWithReadyForQuery } from './backend-read.js';
import { cancelRequest, sslRequest } from './frontend-write.js';
import { PgError, SqlState } from './pg-error.js';
import { slabReads } from './slab-reads.js';

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface UpstreamTarget {
  host: string;
  port: number;
  /** Directory of the server's Unix socket; when set, host is only used for messages. */
  socketDir?: string;
  sslMode: SslMode;
  /** PEM contents of the CA bundle that signs the upstream's certificate (verify-ca, verify-full). */
  sslRootCert?: string;
  connectTimeoutMs: number;
}

export function describeTarget(target: UpstreamTarget): string {
  return target.socketDir ? `${target.socketDir}/.s.PGSQL.${target.port}` : `${target.host}:${target.port}`;
}

/**
 * Connects and negotiates TLS, the whole of it (TCP, SSLRequest, TLS handshake) within the target's connect timeout;
 * resolves to a socket ready for the StartupMessage. Aborting `signal` gives the attempt up at once. With `onData`,
 * what the socket reads goes there from the start, read into slabs (slab-reads.ts) where no SSLRequest is sent,
 * else by 'data' events.
 */
export function connectUpstream(target: UpstreamTarget, signal?: AbortSignal, onData?: (chunk: Buffer) => boolean): Promise<net.Socket> {
  return withinDeadline(target.connectTimeoutMs, signal, async (stop) => {
    const socket = await negotiate(target, stop, onData && plain(target) ? onData : undefined);
    if (onData && !plain(target)) socket.on('data', onData);
    return socket;
  });
}

/** Whether the connection is TCP or a Unix socket as it is, without asking the server for TLS first. */
function plain(target: UpstreamTarget): boolean {
  return target.sslMode === 'disable' || target.socketDir !== undefined;
}

/**
 * Asks the upstream to cancel what a backend is running, and resolves once the server has taken the request (it
 * closes the connection after signalling the backend), or rejects when that does not happen within the connect timeout.
 */
export function cancelBackend(target: UpstreamTarget, processId: number, secret: Buffer): Promise<void> {
  return withinDeadline(target.connectTimeoutMs, undefined, async (stop) => {
    const socket = await negotiate(target, stop);
    await new Promise<void>((resolve, reject) => {
      const unwatch = whenStopped(stop, () => socket.destroy(stop.reason as Error));
      socket.on('error', reject).on('close', () => {
        unwatch();
        resolve();
      });
      socket.end(cancelRequest(processId, secret));
    });
  });
}

/** True when something that answers like PostgreSQL (an SSLRequest gets 'S' or 'N') listens at the target. */
export async function probeUpstream(target: UpstreamTarget, timeoutMs: number): Promise<boolean> {
  let socket: net.Socket | undefined;
  try {
    return await withinDeadline(timeoutMs, undefined, async (stop) => {
      socket = await openSocket(target, stop);
      socket.write(sslRequest());
      const answer = await readByte(socket, stop);
      return answer === 'S' || answer === 'N';
    });
  } catch {
    return false;
  } finally {
    socket?.destroy();
  }
}

/** Runs `work` with a signal that aborts after `timeoutMs`, or when `signal` does; every step of the work heeds it. */
async function withinDeadline<T>(timeoutMs: number, signal: AbortSignal | undefined, work: (stop: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
  const unwatch = signal ? whenStopped(signal, () => deadline.abort(new Error('given up'))) : () => {};
  try {
    return await work(deadline.signal);
  } finally {
    clearTimeout(timer);
    unwatch();
  }
}

/** Calls `giveUp` when `stop` aborts (right after the caller's turn if it has); returns what stops the watch. */
function whenStopped(stop: AbortSignal, giveUp: () => void): () => void {
  if (stop.aborted) {
    queueMicrotask(giveUp);
    return () => {};
  }
  stop.addEventListener('abort', giveUp, { once: true });
  return () => stop.removeEventListener('abort', giveUp);
}

/** `onData`, for a plain connection only: where its reads go, by net.Socket's onread. */
async function negotiate(target: UpstreamTarget, stop: AbortSignal, onData?: (chunk: Buffer) => boolean): Promise<net.Socket> {
  const socket = await openSocket(target, stop, onData).catch((error: Error) => {
    throw connectionFailure(target, error.message);
  });
  try {
    if (plain(target)) return socket;
    socket.write(sslRequest());
    const answer = await readByte(socket, stop);
    if (answer === 'S') return await startTls(socket, target, stop);
    if (target.sslMode !== 'prefer') {
      throw new PgError(SqlState.SqlclientUnableToEstablishSqlconnection, 'upstream server does not support SSL, but SSL was required', {
        severity: 'FATAL',
        hint: `The proxy connects to ${describeTarget(target)} with sslmode=${target.sslMode}.`,
      });
    }
    if (answer !== 'N') throw new Error(`unexpected answer ${JSON.stringify(answer)} to SSLRequest`);
    return socket;
  } catch (error) {
    socket.destroy();
    if (error instanceof PgError) throw error;
    throw connectionFailure(target, (error as Error).message);
  }
}

function openSocket(target: UpstreamTarget, stop: AbortSignal, onData?: (chunk: Buffer) => boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const onread = onData && slabReads(onData, endsWithReadyForQuery);
    const socket = target.socketDir
      ? net.connect({ path: `${target.socketDir}/.s.PGSQL.${target.port}`, onread })
      : net.connect({ host: target.host, port: target.port, onread });
    socket.once('connect', () => {
      unwatch();
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
    socket.once('error', (error) => {
      unwatch();
      reject(error);
    });
    const unwatch = whenStopped(stop, () => socket.destroy(stop.reason as Error));
  });
}

function readByte(socket: net.Socket, stop: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      unwatch();
      socket.off('data', onData).off('error', onError).off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      socket.pause();
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      resolve(String.fromCharCode(chunk[0]!));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('server closed the connection during SSL negotiation'));
    };
    socket.on('data', onData).on('error', onError).on('close', onClose);
    const unwatch = whenStopped(stop, () => {
      cleanup();
      reject(new Error(`no answer to SSLRequest: ${(stop.reason as Error).message}`));
    });
  });
}

function startTls(socket: net.Socket, target: UpstreamTarget, stop: AbortSignal): Promise<tls.TLSSocket> {
  const verify = target.sslMode === 'verify-ca' || target.sslMode === 'verify-full';
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: net.isIP(target.host) ? undefined : target.host,
      ca: target.sslRootCert,
      rejectUnauthorized: verify,
      checkServerIdentity: (_servername, certificate) =>
        target.sslMode === 'verify-full' ? tls.checkServerIdentity(target.host, certificate) : undefined,
    });
    secure.once('secureConnect', () => {
      unwatch();
      secure.removeAllListeners('error');
      secure.setNoDelay(true);
      resolve(secure);
    });
    secure.once('error', (error) => {
      unwatch();
      reject(error);
    });
    const unwatch = whenStopped(stop, () => secure.destroy(new Error(`no TLS handshake: ${(stop.reason as Error).message}`)));
  });
}

function connectionFailure(target: UpstreamTarget, reason: string): PgError {
  return new PgError(SqlState.ConnectionFailure, `could not connect to the upstream server at ${describeTarget(target)}: ${reason}`, {
    severity: 'FATAL',
    hint: 'Check that PostgreSQL is running there and that the proxy option --upstream points at it.',
  });
}
