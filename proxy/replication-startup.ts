// A startup packet's `replication` parameter asks for a walsender, not an ordinary backend: it speaks the
// replication protocol (IDENTIFY_SYSTEM, START_REPLICATION and its copy-both stream), and answers SQL, where it does,
// only in the simple protocol. No interceptor may mediate such a session; it is relayed as it is.

/** PostgreSQL's spellings of false (parse_bool): a prefix of "false", "no", "of(f)", "0", in any case. */
const FALSE = /^(?:f|fa|fal|fals|false|n|no|of|off|0)$/i;

/**
 * Whether the startup parameters open a replication connection: physical (true, on, yes, 1…) or logical
 * ("database"). A value PostgreSQL does not read is taken as one: the server refuses the connection then.
 */
export function isReplicationConnection(parameters: ReadonlyMap<string, string>): boolean {
  const value = parameters.get('replication');
  return value !== undefined && !FALSE.test(value);
}
