// How much of its calls' answers one statement may hold in the proxy at once. A statement may make thousands of
// calls whose answers take a megabyte each: the general path stores them in batches of about this size as they
// come (result-batches.ts), and the fast path starts no call while this much waits to be sent (calls-in-flight.ts),
// so neither keeps every answer until the statement ends.

export const STATEMENT_ANSWER_BYTES = 8 * 1024 ** 2;

/**
 * What the groups of one statement's aggregates (llm_summarize) may hand the proxy in all: a collect pass reads the
 * values of every group together (catalog/stubs.ts), each group at most STATEMENT_ANSWER_BYTES of them.
 */
export const STATEMENT_GROUPS_BYTES = 8 * STATEMENT_ANSWER_BYTES;
