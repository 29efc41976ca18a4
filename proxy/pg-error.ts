// A PostgreSQL error as the proxy raises it: everything that reaches a client as an ErrorResponse starts as one of
// these, so SQLSTATE, severity and hint are decided where the error is raised, not where it is written.

export type ErrorSeverity = 'ERROR' | 'FATAL' | 'PANIC';

export interface PgErrorFields {
  severity?: ErrorSeverity;
  detail?: string;
  hint?: string;
  /** Where in the client's query string, in characters from 1. */
  position?: number;
  /**
   * What the server is told in the message's place when the proxy raises the error through it (its log keeps that):
   * for a message that quotes the client's text, which may hold a secret.
   */
  serverMessage?: string;
}

export class PgError extends Error {
  readonly severity: ErrorSeverity;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: number | undefined;
  readonly serverMessage: string;

  constructor(
    readonly sqlstate: string,
    message: string,
    fields: PgErrorFields = {},
  ) {
    super(message);
    this.name = 'PgError';
    this.severity = fields.severity ?? 'ERROR';
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.position = fields.position;
    this.serverMessage = fields.serverMessage ?? message;
  }
}

/**
 * A client message whose frame is sound but whose content cannot be read. After startup PostgreSQL answers it with
 * an ERROR in the message's place (the extended protocol then skips to the Sync) and the session goes on; only while
 * it authenticates, where every error ends the connection, is it FATAL.
 */
export class MalformedMessage extends PgError {
  constructor(message: string, severity: ErrorSeverity = 'ERROR') {
    super(SqlState.ProtocolViolation, message, { severity });
    this.name = 'MalformedMessage';
  }
}

/**
 * The SQLSTATE of an error the proxy raised or the server answered (pg's code); for another, its code if it has one (a
 * system error's). Unlike the message, it never quotes a value.
 */
export function sqlstateOf(error: unknown): string | undefined {
  return error instanceof PgError ? error.sqlstate : (error as { code?: string } | undefined)?.code;
}

/** PostgreSQL's words when it is full; its own for a role's limit ("too many connections for role …") name the role. */
export function tooManyClients(hint?: string): PgError {
  return new PgError(SqlState.TooManyConnections, 'sorry, too many clients already', { severity: 'FATAL', hint });
}

/** SQLSTATEs the proxy itself raises (PostgreSQL's errcodes.txt names). */
export const SqlState = {
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  SqlclientUnableToEstablishSqlconnection: '08001',
  FeatureNotSupported: '0A000',
  DuplicateCursor: '42P03',
  InvalidAuthorizationSpecification: '28000',
  ProgramLimitExceeded: '54000',
  AdminShutdown: '57P01',
  CannotConnectNow: '57P03',
  TooManyConnections: '53300',
} as const;
