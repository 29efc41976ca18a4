// A transaction statement's text cut down to its words, past any comments, spaces and ';' (review K3: a look at the
// first bytes with a pattern of plain comments missed `/** c **/ SAVEPOINT a` and the like).

import { describe, expect, it } from 'vitest';
import { firstTokenAt, leadsAsTransaction, transactionWords } from '../../src/sql/transaction-text.js';

const first = (text: string) => text.slice(firstTokenAt((index) => (index < text.length ? text.charCodeAt(index) : undefined), 0, text.length));

describe('transaction statement texts', () => {
  it.each([
    ['/** c **/ SAVEPOINT a', 'SAVEPOINT a'],
    ['/* a /* b */ c */ SAVEPOINT a', 'SAVEPOINT a'],
    [';;SAVEPOINT a', 'SAVEPOINT a'],
    ['--c\rSAVEPOINT a', 'SAVEPOINT a'],
    ['-- c\n\t COMMIT', 'COMMIT'],
  ])('start at their first token: %j', (text, rest) => {
    expect(first(text)).toBe(rest);
    expect(leadsAsTransaction(first(text))).toBe(true);
  });

  it('are not found in other statements, or in a comment left open', () => {
    for (const text of ['SELECT 1', 'ENDING', 'prepared_x', '/* SAVEPOINT a', 'committed']) expect(leadsAsTransaction(first(text)), text).toBe(false);
  });

  it('are cut down to their keywords, names and strings standing in', () => {
    expect(transactionWords(`ROLLBACK /* x */ TO -- y\r SAVEPOINT "a""b" ;`)).toBe('ROLLBACK TO SAVEPOINT "name"');
    expect(transactionWords(`PREPARE TRANSACTION $g$it's$g$`)).toBe(`PREPARE TRANSACTION 'text'`);
    expect(transactionWords(`SAVEPOINT ${'a'.repeat(5000)}`)).toBe('SAVEPOINT name');
    expect(transactionWords(`COMMIT AND NO CHAIN`)).toBe('COMMIT AND NO CHAIN');
    // Review L3: prefixed strings and names, which start with a letter a word may start with.
    expect(transactionWords(`PREPARE TRANSACTION E'l3\\'e'`)).toBe(`PREPARE TRANSACTION 'text'`);
    expect(transactionWords(`PREPARE TRANSACTION U&'l3u' UESCAPE '!'`)).toBe(`PREPARE TRANSACTION 'text'`);
    expect(transactionWords(`PREPARE TRANSACTION N'gid'`)).toBe(`PREPARE TRANSACTION 'text'`);
    expect(transactionWords(`SAVEPOINT U&"a" uescape '!'`)).toBe('SAVEPOINT "name"');
    expect(transactionWords(`RELEASE u&"a\\0061"`)).toBe('RELEASE "name"');
    expect(transactionWords(`ROLLBACK TO end_of_e`)).toBe('ROLLBACK TO end_of_e');
    for (const other of ['PREPARE p AS SELECT 1', 'END (1)', `COMMIT 'x`]) expect(transactionWords(other), other).toBeUndefined();
  });
});
