// Message codes and request codes of the PostgreSQL frontend/backend protocol v3, named as in PostgreSQL's
// documentation ("Message Formats") so that a reader can look each one up.

/** Type bytes of messages the server (here: the upstream, or the proxy speaking as a server) sends. */
export const BackendMessage = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  ErrorResponse: 0x45, // 'E'
  NoticeResponse: 0x4e, // 'N'
  NegotiateProtocolVersion: 0x76, // 'v'
  ParameterStatus: 0x53, // 'S'
  ReadyForQuery: 0x5a, // 'Z'
} as const;

/** Type bytes of messages a client sends once the startup packet is through. */
export const FrontendMessage = {
  Query: 0x51, // 'Q'
  Parse: 0x50, // 'P'
  Execute: 0x45, // 'E'
  Sync: 0x53, // 'S'
  FunctionCall: 0x46, // 'F'
  Terminate: 0x58, // 'X'
} as const;

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

/** Authentication request codes (the Int32 after 'R'). */
export const AuthRequest = {
  Ok: 0,
  SASL: 10,
} as const;

/** Transaction status byte of ReadyForQuery. */
export type TransactionStatus = 'I' | 'T' | 'E';
