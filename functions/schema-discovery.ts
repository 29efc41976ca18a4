// pg_ai_query's schema discovery (seed 002): the tables the caller can query, and one of them in detail, as JSON
// text in the seed's shapes. What "can query" means is src/sql/visible-schema.ts's: PostgreSQL's privileges decide.

import { PgError } from '../proxy/pg-error.js';
import { describeTables, listTables } from '../src/sql/visible-schema.js';
import { declareFunction, noModel } from './declaration.js';

export const schemaDiscoveryFunctions = [
  declareFunction({
    name: 'get_database_tables',
    arguments: [],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: 'The tables and views the current role can query, as a JSON array (estimated rows, size).',
    models: noModel,
    run: async (_args, context) => JSON.stringify(await listTables(context)),
  }),
  declareFunction({
    name: 'get_table_details',
    arguments: [
      { name: 'table_name', type: 'text' },
      { name: 'schema_name', type: 'text', default: "'public'::pg_catalog.text" },
    ],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: 'One table the current role can query, as a JSON object: columns, constraints, foreign keys, indexes.',
    models: noModel,
    async run(args, context) {
      const [schema, table] = [String(args.schema_name), String(args.table_name)];
      const [details] = await describeTables(context, { schema, table });
      if (!details) {
        throw new PgError('22023', `table "${schema}.${table}" does not exist or the current role cannot read it`, {
          hint: 'get_database_tables() lists the tables the current role can read; names are case-sensitive here.',
        });
      }
      return JSON.stringify(details);
    },
  }),
];
