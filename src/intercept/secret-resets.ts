// The statements after which secrets a session handed the proxy must stand for nothing: DISCARD ALL, with which a
// pooler hands the connection to its next client (every key the statements set, every secret written out in a call,
// every server the client named), and RESET ALL, RESET of a setting and SET … TO DEFAULT (the keys set in those
// settings). Held on, a reference to such a secret, which the server's log, pg_stat_activity or a view of another role
// saw, would still open it when written out again (set_config('ai.openai_api_key', '<that reference>', false)).
// A RESET in a transaction block lets go of nothing: a rollback (to a savepoint) gives the setting its key back, as
// PostgreSQL gives it its value. DISCARD ALL runs in no block.

import { IdentifierSet } from '../sql/identifiers.js';
import { HeldValues } from './held-values.js';
import { settingCase } from '../sql/setting-case.js';

/** A statement of a query string (its index) after which held secrets go. */
export interface SecretReset {
  statement: number;
  /** DISCARD ALL: 'session'; RESET ALL: 'settings'; else the one setting reset (lower case). */
  scope: 'session' | 'settings' | { setting: string };
}

/** The commands, as tokens, that reset settings without naming one (a named key setting is claimed by its name). */
export const RESETTING_COMMANDS = new IdentifierSet(['discard', 'reset']);

/**
 * The resets that no rollback the proxy can foresee undoes: DISCARD ALL, and the others when the session was in no
 * transaction block (`inBlock`) and the query string opens none before them (`firstTransaction`: the index of its
 * first transaction statement, or -1). One rolled back with the implicit transaction of its query string (a later
 * statement of it failed) still lets go: the session sets its key again.
 */
export function lastingResets(resets: SecretReset[], inBlock: boolean, firstTransaction: number): SecretReset[] {
  return resets.filter(({ scope, statement }) => scope === 'session' || (!inBlock && (firstTransaction < 0 || statement < firstTransaction)));
}

export function secretResets(statements: Array<{ node: Record<string, unknown> }>): SecretReset[] {
  return statements.flatMap(({ node }, statement): SecretReset[] => {
    if ((node.DiscardStmt as { target?: string } | undefined)?.target === 'DISCARD_ALL') return [{ statement, scope: 'session' }];
    const set = node.VariableSetStmt as { kind?: string; name?: string } | undefined;
    if (set?.kind === 'VAR_RESET_ALL') return [{ statement, scope: 'settings' }];
    if ((set?.kind === 'VAR_RESET' || set?.kind === 'VAR_SET_DEFAULT') && set.name) return [{ statement, scope: { setting: settingCase(set.name) } }];
    return [];
  });
}

/** Whether a held value's reference is written again after a reset, which it then outlives. */
export type WrittenAfter = (reference: string) => boolean;

/**
 * For a statement of the query string `sql` (its index), whether a reference is written in a statement after it:
 * RESET ALL; SET ai.openai_api_key = '…' sets a key the proxy held before the RESET ran. `offsets`: where each
 * statement starts, in code points (analyze.ts). The text is read only when it has `resets`.
 */
export function writtenAfter(sql: string, offsets: number[], resets: SecretReset[]): (statement: number) => WrittenAfter {
  if (resets.length === 0) return () => () => false;
  const written = HeldValues.lastWritten(sql);
  const starts = utf16Offsets(sql, offsets);
  return (statement) => {
    const next = starts[statement + 1] ?? Number.POSITIVE_INFINITY;
    return (reference) => (written.get(reference) ?? -1) >= next;
  };
}

/** Offsets in code points (ascending), as offsets in UTF-16 units: the text is walked once. */
function utf16Offsets(text: string, codePointOffsets: number[]): number[] {
  let unit = 0;
  let point = 0;
  return codePointOffsets.map((offset) => {
    for (; point < offset && unit < text.length; point++) unit += text.codePointAt(unit)! > 0xffff ? 2 : 1;
    return unit;
  });
}
