// Functions and operators of another role's, planted in public (which others may create in, as on PostgreSQL 14 and
// databases upgraded from it) and put before pg_catalog in the table owner's search_path: each records who called
// it from which application, then does what PostgreSQL's own would. The worker runs in the owner's session, so a
// call of one from there would run another role's code with the owner's rights.

import type pg from 'pg';
import { afterThisTest } from './database.js';

const OVERLOADS: Array<[operator: string, left: string, right: string, returns: string]> = [
  ['=', 'text', 'text', 'boolean'],
  ['=', 'integer', 'integer', 'boolean'],
  ['=', 'bigint', 'bigint', 'boolean'],
  ['=', 'jsonb', 'jsonb', 'boolean'],
  ['=', 'xid', 'xid', 'boolean'],
  ['<', 'integer', 'integer', 'boolean'],
  ['>=', 'integer', 'integer', 'boolean'],
  ['<', 'timestamptz', 'timestamptz', 'boolean'],
  ['<=', 'timestamptz', 'timestamptz', 'boolean'],
  ['+', 'integer', 'integer', 'integer'],
  ['-', 'integer', 'integer', 'integer'],
  ['*', 'double precision', 'double precision', 'double precision'],
  ['^', 'integer', 'integer', 'double precision'],
  ['+', 'timestamptz', 'interval', 'timestamptz'],
];

/**
 * Plants the overloads in `database` (through `direct`, a superuser's connection) as password_user, for `owner`'s
 * sessions; resolves to a reader of the calls made from the worker's connections.
 */
export async function plantHostileOverloads(direct: pg.Client, database: string, owner: string): Promise<() => Promise<string[]>> {
  await direct.query(`GRANT CREATE ON SCHEMA public TO PUBLIC; CREATE SCHEMA hostile AUTHORIZATION password_user; GRANT USAGE ON SCHEMA hostile TO PUBLIC`);
  await direct.query(`ALTER ROLE ${owner} IN DATABASE ${database} SET search_path = public, pg_catalog`);
  afterThisTest(async () => void (await direct.query(`ALTER ROLE ${owner} IN DATABASE ${database} RESET search_path`)));
  const record = (what: string) => `INSERT INTO hostile.calls VALUES ('${what}', pg_catalog.current_setting('application_name'))`;
  const statements = [
    `CREATE TABLE hostile.calls (what text, application text)`,
    `GRANT INSERT ON hostile.calls TO PUBLIC`,
    `CREATE FUNCTION public.power(a integer, b integer) RETURNS double precision LANGUAGE sql
       AS $$ ${record('power')}; SELECT pg_catalog.power(a::pg_catalog.float8, b::pg_catalog.float8) $$`,
    `CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ ${record('now')}; SELECT pg_catalog.now() $$`,
    ...OVERLOADS.flatMap(([operator, left, right, returns], i) => [
      `CREATE FUNCTION hostile.op${i}(a ${left}, b ${right}) RETURNS ${returns} LANGUAGE sql
         AS $$ ${record(`${left} ${operator} ${right}`)}; SELECT (a OPERATOR(pg_catalog.${operator}) b)::${returns} $$`,
      `CREATE OPERATOR public.${operator} (LEFTARG = ${left}, RIGHTARG = ${right}, FUNCTION = hostile.op${i})`,
    ]),
  ];
  await direct.query(`SET ROLE password_user`);
  try {
    for (const statement of statements) await direct.query(statement);
  } finally {
    await direct.query(`RESET ROLE`);
  }
  return async () =>
    (await direct.query(`SELECT DISTINCT what FROM hostile.calls WHERE application = 'pg_llm worker' ORDER BY what`)).rows.map((row) => row.what as string);
}
