// The seam between the wire protocol and whatever takes over some of a session's statements (the LLM interception
// engine, wired in by src/). The session relays raw bytes until the interceptor claims a client message; from then
// on it hands every client message to the interceptor, whole and in order, until the interceptor releases it.

import type { Logger } from 'pino';
import type { Cancellable } from './cancel-keys.js';
import type { PgError } from './pg-error.js';
import type { TransactionStatus } from './protocol.js';
import type { RepliesOwed, ReplySink } from './replies-owed.js';

/** What a session offers its interceptor. */
export interface SessionIo {
  /**
   * Sends one message upstream, its frame whole or in pieces written in order (a big value one of them, not copied
   * into a frame); `sink` gets its answer (none: the client's message, answered to the client).
   */
  sendUpstream(frame: Buffer | readonly Buffer[], sink?: ReplySink): void;
  /** Sends one message to the client; false when its socket's buffer is full (see clientDrained). */
  writeToClient(frame: Buffer): boolean;
  /** Resolves once the client has taken what was written to it, or the session is over. */
  clientDrained(): Promise<void>;
  /** The requests sent upstream and not answered yet, the proxy's own included. */
  readonly owed: RepliesOwed;
  /** The transaction status of the last ReadyForQuery the upstream sent. */
  readonly transactionStatus: TransactionStatus;
  /** Whether the transaction block is failed now, which a ROLLBACK TO since the last ReadyForQuery may have undone. */
  readonly blockFailed: boolean;
  /** Ends mediation: client messages are relayed raw again. */
  release(): void;
  /**
   * Stops (true) or restarts (false) reading from the client, for an interceptor holding more of its messages than
   * it should; a full upstream still pauses the client on its own while it is not held.
   */
  holdClient(held: boolean): void;
  /**
   * While mediating: the interceptor has done all it was handed, and needs the client's next messages to go on (it runs
   * a transaction block until the client's Sync). A big message left unread meanwhile is read now, and handed to it.
   */
  awaitClient(): void;
  /**
   * While mediating: the interceptor has handed upstream (or answered) every client message it was given, and waits
   * for the server only. A big COPY message left unread meanwhile, which a COPY already upstream may be waiting for,
   * goes now, as it comes.
   */
  caughtUp(): void;
  /** ReadyForQuery messages received from the upstream so far, and the number of the last one with status idle. */
  readonly readies: { received: number; lastIdle: number };
  /** Forwards a cancel to the upstream backend. */
  cancelUpstream(): void;
  /** Ends the session, telling the client why. */
  terminate(error: PgError): void;
  /** The sessions of this proxy whose upstream backend has this process id (usually one). */
  sessionsOf(processId: number): Cancellable[];
  readonly log: Logger;
}

/** Watches a statement too big to hold as it streams through, to judge it once it is all read. */
export interface StatementWatch {
  /** The next bytes of the message, its header first; `sql` when they are of the statement's text. */
  read(bytes: Buffer, sql: boolean): void;
  /**
   * The message is all read: the error to refuse the statement with (the server is made to refuse it), or undefined
   * to let it run. `statement` is a Parse's statement name, undefined when it was too long to keep.
   */
  end(statement: string | undefined, sqlBytes: number): PgError | undefined;
}

/** The portal and prepared statement a Bind names. */
export interface BindNames {
  portal: string;
  statement: string;
}

/** What an interceptor made of a Bind from its names and length, before its body was read: handed back with it. */
export interface BindAdmission {
  /** The error to refuse the Bind with: its body is then left unread, and a Bind without one is handed on at once. */
  readonly refusal: PgError | undefined;
}

export interface Interceptor {
  /** Client message types whose frames must be inspected while relaying raw. */
  inspects(type: number): boolean;
  /**
   * Asked, while relaying raw, of a Query or Parse whose length field is in: a watch when the message is too big for
   * the interceptor to hold (it is then relayed as it comes), or undefined to have it whole through claims().
   */
  watch(type: number, length: number): StatementWatch | undefined;
  /**
   * Asked of a Bind that does not arrive in one read, when it is one the interceptor inspects or mediation is on, once
   * its names are in (undefined: too long to keep), with the bytes that follow them: undefined to have it whole as any
   * other message, or what the interceptor made of it, handed back with the Bind (claims, accept). A Bind it refuses
   * is always claimed.
   */
  admitBind(names: BindNames | undefined, bytes: number): BindAdmission | undefined;
  /**
   * Asked of a Bind admitBind left alone, once its names are in, when nothing of the client's waits before it in the
   * interceptor: true when the names are all the interceptor needs of it (it notes what they tell, the portal the Bind
   * replaces), and the Bind is then relayed as it comes; false to have it whole, as any other message.
   */
  relaysBind(names: BindNames): boolean;
  /**
   * Shown a client message being assembled across reads, in slices as its bytes come (proxy/arriving-look.ts): the
   * first `filled` bytes of `frame`, the buffer it is then handed over in (claims, accept), all of it before it is. A
   * big statement may so be judged a slice at a time, not all in the turn it completes. The bytes in must not be
   * changed. False when it does not look at this message so: it is shown no more of it.
   */
  arriving(type: number, frame: Buffer, filled: number): boolean;
  /**
   * Looks at a frame while relaying raw: true when mediation starts with this message. The frame may be a view of
   * the client's chunk, whose memory takes the next read once it is relayed: copy what is kept.
   */
  claims(type: number, frame: Buffer, admission?: BindAdmission): boolean;
  /** A client message while mediating, the claimed one first; the frame is the interceptor's to keep. */
  accept(type: number, frame: Buffer, admission?: BindAdmission): void;
  /**
   * Where the answer goes to a client message relayed as it came while the interceptor waited for the client (a Query
   * or FunctionCall too big to hold), given where it would go (`relay`; undefined: to the client as it comes): the
   * interceptor's own sink when it must act on the answer, as on one ending a transaction block it opened. The
   * interceptor is at work again when it takes the answer.
   */
  relayedAnswer?(type: number, relay: ReplySink | undefined): ReplySink | undefined;
  /** The server started reading a COPY's data (its CopyInResponse came): COPY data held back may go to it now. */
  copyInStarted?(): void;
  /** The client asked to cancel: what the session is to do about the upstream backend (CancelOutcome). */
  cancel(): CancelOutcome;
  /** The session is gone. */
  closed(): void;
}

/**
 * What a CancelRequest leaves to the session: `forward` it to the upstream backend, as it is (the server runs the
 * client's own statement, or nothing); nothing more, it is `handled` (the statement's work is the proxy's alone now);
 * or cancel the proxy's `ownRequest` the server runs for the client's statement, and send nothing more upstream until
 * the cancel has landed, so that it can only stop that statement.
 */
export type CancelOutcome = 'forward' | 'handled' | 'ownRequest';

/**
 * The interception of one session, begun from its startup parameters before they go to the server: it may hold back
 * secrets among them (they would be settings' values the server keeps in clear), which its interceptor then knows.
 */
export interface SessionInterception {
  /** The startup parameters the server is sent in the client's; undefined: the client's, as they are. */
  readonly upstreamParameters: Map<string, string> | undefined;
  /** Makes the session's interceptor once it is authenticated. */
  interceptor(io: SessionIo): Interceptor;
}

/** Begins the interception of a session; `parameters` are its startup parameters. */
export type InterceptorFactory = (parameters: Map<string, string>) => SessionInterception;
