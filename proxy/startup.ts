// The client's side of connection startup, before any upstream exists: SSL and GSSAPI-encryption negotiation,
// then either a StartupMessage (a session begins) or a CancelRequest (a one-shot connection).

import type net from 'node:net';
import tls from 'node:tls';
import { errorResponse, negotiationAnswer } from './backend-write.js';
import { closeSocket } from './close-socket.js';
import { readStartupPacket, unsupportedProtocol } from './frontend-read.js';
import { PgError, SqlState } from './pg-error.js';
import { MAX_STARTUP_PACKET_LENGTH, RequestCode } from './protocol.js';

export type ClientHello =
  | {
      kind: 'StartupMessage';
      socket: net.Socket;
      /** The StartupMessage exactly as the client sent it: relayed to the upstream unchanged. */
      packet: Buffer;
      parameters: Map<string, string>;
      secure: boolean;
      /** Bytes the client sent after its StartupMessage without waiting for an answer. */
      leftover: Buffer;
    }
  | { kind: 'CancelRequest'; processId: number; secret: Buffer };

export interface StartupOptions {
  secureContext: tls.SecureContext | undefined;
  timeoutMs: number;
}

/**
 * Reads startup packets until the client is ready for a session or has sent a cancel. On a malformed packet it
 * answers with a FATAL ErrorResponse, closes the connection and rejects with the PgError. Where PostgreSQL only
 * logs and closes (a client gone before its packet was whole, a length word out of range, a CancelRequest of the
 * wrong length), it closes without a word: often the client had simply changed its mind (node-postgres's connect()
 * then end() sends a Terminate before its startup packet).
 */
export async function readClientHello(raw: net.Socket, options: StartupOptions): Promise<ClientHello> {
  let socket = raw;
  let reader = new PacketReader(socket);
  const timer = setTimeout(() => socket.destroy(new Error('startup timed out')), options.timeoutMs);
  // Each encryption is negotiated once, as PostgreSQL allows: the other may follow only a refusal. A request made
  // again is refused, as the server does, rather than answered for as long as a client sends it.
  let sslDone = false;
  let gssDone = false;
  try {
    for (;;) {
      const packet = await reader.next();
      const request = readStartupPacket(packet);
      switch (request.kind) {
        case 'SSLRequest': {
          if (sslDone) throw unsupportedProtocol(RequestCode.SSLRequest);
          sslDone = true;
          const pending = reader.detach();
          if (!options.secureContext) {
            socket.write(negotiationAnswer(false));
            reader = new PacketReader(socket, pending);
            break;
          }
          // Bytes sent before the handshake would be trusted as if they had come encrypted (CVE-2021-23214).
          if (pending.length > 0) throw violation('received unencrypted data after SSL request');
          gssDone = true;
          socket.write(negotiationAnswer(true));
          socket = await startServerTls(socket, options.secureContext);
          reader = new PacketReader(socket);
          break;
        }
        case 'GSSENCRequest':
          if (gssDone) throw unsupportedProtocol(RequestCode.GSSENCRequest);
          gssDone = true;
          socket.write(negotiationAnswer(false));
          break;
        case 'CancelRequest':
          reader.detach();
          closeSocket(socket);
          return request;
        case 'StartupMessage':
          return {
            kind: 'StartupMessage',
            socket,
            packet,
            parameters: request.parameters,
            secure: socket instanceof tls.TLSSocket,
            leftover: reader.detach(),
          };
      }
    }
  } catch (error) {
    reader.detach();
    if (error instanceof PgError) closeSocket(socket, errorResponse(error));
    else socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function violation(message: string): PgError {
  return new PgError(SqlState.ProtocolViolation, message, { severity: 'FATAL' });
}

/**
 * Completes the server side of the TLS handshake. A peer that closes mid-handshake gets neither 'secure' nor 'error'
 * from the TLSSocket, only 'end' or 'close': those settle it too, or the connection would be held for good.
 */
function startServerTls(socket: net.Socket, secureContext: tls.SecureContext): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
    const fail = (error: Error): void => {
      secure.off('secure', succeed).off('error', fail).off('end', gone).off('close', gone);
      secure.destroy();
      socket.destroy();
      reject(error);
    };
    const gone = (): void => fail(new Error('client closed the connection during the TLS handshake'));
    const succeed = (): void => {
      secure.off('error', fail).off('end', gone).off('close', gone);
      resolve(secure);
    };
    secure.once('secure', succeed).once('error', fail).once('end', gone).once('close', gone);
  });
}

/** Collects the untyped, length-prefixed packets of the startup phase from a socket. */
class PacketReader {
  private waiting: { resolve: (packet: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly socket: net.Socket,
    private buffered: Buffer = Buffer.alloc(0),
  ) {
    socket.on('data', this.onData).on('error', this.onError).on('close', this.onClose);
    socket.resume();
  }

  next(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.deliver();
    });
  }

  /** Stops reading (the socket is left paused) and returns what was received beyond the last packet. */
  detach(): Buffer {
    this.socket.off('data', this.onData).off('error', this.onError).off('close', this.onClose);
    this.socket.pause();
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.deliver();
  };

  private readonly onError = (error: Error): void => {
    this.failure = error;
    this.deliver();
  };

  private readonly onClose = (): void => {
    this.failure ??= new Error('client closed the connection during startup');
    this.deliver();
  };

  private deliver(): void {
    if (!this.waiting) return;
    const { resolve, reject } = this.waiting;
    if (this.buffered.length >= 4) {
      const length = this.buffered.readInt32BE(0);
      if (length < 8 || length > MAX_STARTUP_PACKET_LENGTH) {
        this.waiting = undefined;
        reject(new Error('invalid length of startup packet'));
        return;
      }
      if (this.buffered.length >= length) {
        this.waiting = undefined;
        const packet = this.buffered.subarray(0, length);
        this.buffered = this.buffered.subarray(length);
        resolve(packet);
        return;
      }
    }
    if (this.failure) {
      this.waiting = undefined;
      reject(this.failure);
    }
  }
}
