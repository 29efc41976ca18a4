// Counters the proxy keeps for /metrics. Plain fields bumped on the hot path: no labels, no maps, no allocation.

export class ProxyStats {
  connectionsOpen = 0;
  connectionsTotal = 0;
  connectionsRejected = 0;
  bytesFromClients = 0;
  bytesToClients = 0;
  /** Query and Execute messages forwarded: one per simple query or extended-protocol execution. */
  queriesForwarded = 0;
  /** Upstream connections that could not be opened, or that the upstream closed without saying why first. */
  upstreamConnectionFailures = 0;
  /** ErrorResponses the upstream sent to clients: their SQL errors, and logins it refused. */
  upstreamSqlErrors = 0;
  /** Errors the proxy raised itself: protocol violations, upstream failures, limits. */
  proxyErrors = 0;
  cancelRequests = 0;
  /** Auth queries run to look up a role's SCRAM secret (with an auth role). */
  authLookups = 0;
}
