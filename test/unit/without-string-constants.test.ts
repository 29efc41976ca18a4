// The statement PostgreSQL analyses for the check: every string constant NULL, so that no type's input function
// runs for it, and everything else as written.

import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/sql/parse.js';
import { withoutStringConstantsNow } from '../../src/sql/without-string-constants.js';

beforeAll(() => loadParser());

describe('withoutStringConstantsNow', () => {
  it.each([
    [`SELECT * FROM t WHERE name = 'Ada' AND id = 1`, `SELECT * FROM t WHERE name = (NULL) AND id = 1`],
    [`SELECT '{1}'::counted[], CAST('(1)' AS holder)`, `SELECT (NULL)::counted[], CAST((NULL) AS holder)`],
    [`SELECT E'it\\'s', $$a 'b'$$, $q$x$q$, 'é' || 'ü'`, `SELECT (NULL), (NULL), (NULL), (NULL) || (NULL)`],
    [`SELECT 'a'\n'b' AS joined`, `SELECT (NULL) AS joined`],
    [`SELECT DATE '2024-01-01', varchar(3) 'ab', holder '(1)'`, `SELECT CAST(NULL AS DATE \n), CAST(NULL AS varchar(3) \n), CAST(NULL AS holder \n)`],
    [`SELECT x FROM t WHERE d < date -- when\n '2024-01-01'`, `SELECT x FROM t WHERE d < CAST(NULL AS date -- when\n \n)`],
    // Constants the grammar makes of keywords, and bit strings, whose input runs no code of another's, stay.
    [`SELECT extract(year FROM now()), x IS NFC NORMALIZED, B'101', X'1F' FROM t`, `SELECT extract(year FROM now()), x IS NFC NORMALIZED, B'101', X'1F' FROM t`],
    [`SELECT 1 AS "it's" -- it's`, `SELECT 1 AS "it's" -- it's`],
  ])('%s', (sql, expected) => {
    expect(withoutStringConstantsNow(sql)).toBe(expected);
  });

  it('gives up on a typed constant whose type modifiers follow it', () => {
    expect(withoutStringConstantsNow(`SELECT INTERVAL '1' DAY`)).toBeUndefined();
  });
});
