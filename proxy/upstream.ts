// Opens connections to the upstream PostgreSQL: TCP or Unix socket, then TLS negotiated on its own terms
// (libpq's sslmode semantics), independently of whether the client spoke TLS to the proxy.

import net from 'node:net';
import tls from 'node:tls';
import { sslRequest } from './frontend-write.js';
import { PgError, SqlState } from './pg-error.js';

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

/** Connects and negotiates TLS; resolves to a socket ready for the StartupMessage. */
export async function connectUpstream(target: UpstreamTarget): Promise<net.Socket> {
  const socket = await openSocket(target).catch((error: Error) => {
    throw connectionFailure(target, error.message);
  });
  try {
    if (target.sslMode === 'disable' || target.socketDir) return socket;
    socket.write(sslRequest());
    const answer = await readByte(socket, target.connectTimeoutMs);
    if (answer === 'S') return await startTls(socket, target);
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

/** True when something that answers like PostgreSQL (an SSLRequest gets 'S' or 'N') listens at the target. */
export async function probeUpstream(target: UpstreamTarget, timeoutMs: number): Promise<boolean> {
  let socket: net.Socket | undefined;
  try {
    socket = await openSocket({ ...target, connectTimeoutMs: timeoutMs });
    socket.write(sslRequest());
    const answer = await readByte(socket, timeoutMs);
    return answer === 'S' || answer === 'N';
  } catch {
    return false;
  } finally {
    socket?.destroy();
  }
}

function openSocket(target: UpstreamTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.socketDir
      ? net.connect({ path: `${target.socketDir}/.s.PGSQL.${target.port}` })
      : net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timeout after ${target.connectTimeoutMs} ms`));
    }, target.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function readByte(socket: net.Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
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
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer to SSLRequest within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', onData).on('error', onError).on('close', onClose);
  });
}

function startTls(socket: net.Socket, target: UpstreamTarget): Promise<tls.TLSSocket> {
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
      secure.removeAllListeners('error');
      secure.setNoDelay(true);
      resolve(secure);
    });
    secure.once('error', reject);
  });
}

function connectionFailure(target: UpstreamTarget, reason: string): PgError {
  return new PgError(SqlState.ConnectionFailure, `could not connect to the upstream server at ${describeTarget(target)}: ${reason}`, {
    severity: 'FATAL',
    hint: 'Check that PostgreSQL is running there and that the proxy option --upstream points at it.',
  });
}
