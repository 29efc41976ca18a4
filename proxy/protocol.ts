// Message codes and request codes of the PostgreSQL frontend/backend protocol v3, named as in PostgreSQL's
// documentation ("Message Formats") so that a reader can look each one up.

/** Type bytes of messages the server (here: the upstream, or the proxy speaking as a server) sends. */
export const BackendMessage = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  /** The server's COPY data ('d', as the client's). */
  CopyData: 0x64, // 'd'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  NegotiateProtocolVersion: 0x76, // 'v'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;

/** Type bytes of messages a client sends once the startup packet is through. */
export const FrontendMessage = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** Also SASLInitialResponse and SASLResponse: the same type byte, told apart by the state of the exchange. */
  PasswordMessage: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const;

/** The most PostgreSQL reads of a message that names things only (PQ_SMALL_MESSAGE_LIMIT), counting its length field. */
export const MAX_SMALL_MESSAGE_LENGTH = 10000;

/**
 * The longest a client's message of this type may be where PostgreSQL bounds it more tightly than any message: Close,
 * Describe, Execute, Flush, Sync and Terminate carry a few names at most, and the server ends a session sending more.
 */
export function frontendLengthLimit(type: number): number | undefined {
  switch (type) {
    case FrontendMessage.Close:
    case FrontendMessage.Describe:
    case FrontendMessage.Execute:
    case FrontendMessage.Flush:
    case FrontendMessage.Sync:
    case FrontendMessage.Terminate:
      return MAX_SMALL_MESSAGE_LENGTH;
  }
  return undefined;
}

/** A client's COPY data, or its end: what the server reads while a COPY FROM STDIN runs. */
export function isCopyMessage(type: number | undefined): boolean {
  return type === FrontendMessage.CopyData || type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail;
}

/** The end of a client's COPY data. */
export function endsCopy(type: number): boolean {
  return type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail;
}

/**
 * A message the server takes in as part of a running COPY FROM STDIN's data: COPY messages, and the Flush and Sync it
 * ignores meanwhile (libpq sends a Sync right after the Execute of a COPY).
 */
export function feedsCopy(type: number | undefined, copyingIn: boolean): boolean {
  return isCopyMessage(type) || (copyingIn && (type === FrontendMessage.Flush || type === FrontendMessage.Sync));
}

/** Request codes carried in the version field of an untyped startup-phase packet. */
export const RequestCode = {
  CancelRequest: 80877102,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
} as const;

/** The only protocol major version; minor versions are negotiated by the upstream (NegotiateProtocolVersion). */
export const PROTOCOL_MAJOR = 3;

/** PostgreSQL refuses startup packets longer than this (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_LENGTH = 10000;

/** PostgreSQL refuses SASL messages whose data is longer than this (PG_MAX_AUTH_TOKEN_LENGTH). */
export const MAX_AUTH_TOKEN_LENGTH = 65535;

/** Authentication request codes (the Int32 after 'R'). */
export const AuthRequest = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Transaction status byte of ReadyForQuery. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** Which object a Describe or Close names. */
export type ObjectKind = 'S' | 'P';
