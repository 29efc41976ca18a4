// pg_llm's vector functions: a model instance's embedding of a text, and a store of vectors searched by cosine
// similarity. `vector` is pgvector's type where the database has pgvector, real[] where not (vector-type.ts).

import { recordCall } from '../src/catalog/audit.js';
import { searchVectors, storeVector } from '../src/catalog/vectors.js';
import { PgError } from '../proxy/pg-error.js';
import { declareFunction, noModel } from './declaration.js';
import { embed, embeddingMetadata } from './embedding.js';

export const vectorFunctions = [
  declareFunction({
    name: 'pg_llm_get_embedding',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'text_var', type: 'text' },
    ],
    result: { kind: 'scalar', type: 'vector' },
    strict: true,
    description: "The model instance's embedding of a text.",
    async run(args, context) {
      const instanceName = String(args.instance_name);
      const embedded = await embed(context, instanceName, [String(args.text_var)]);
      await recordCall(context, { eventType: 'embedding', instanceName, success: true, confidence: null, metadata: embeddingMetadata(embedded) });
      return embedded.vectors[0];
    },
  }),
  declareFunction({
    name: 'pg_llm_store_vector',
    arguments: [
      { name: 'table_name', type: 'text' },
      { name: 'column_name', type: 'text' },
      { name: 'row_id', type: 'bigint' },
      { name: 'query_vector', type: 'vector' },
      { name: 'metadata', type: 'jsonb', default: 'NULL::pg_catalog.jsonb' },
    ],
    result: { kind: 'scalar', type: 'bigint' },
    // Not STRICT as pg_llm declares it, where the default metadata NULL stores nothing and returns NULL.
    strict: false,
    description: "Stores a vector for a row of a table's column; returns its id. Metadata NULL is stored as {}.",
    models: noModel,
    async run(args, context) {
      for (const name of ['table_name', 'column_name', 'row_id', 'query_vector']) {
        if (args[name] === null) throw new PgError('22004', `${name} must not be null`);
      }
      return storeVector(context, {
        tableName: String(args.table_name),
        columnName: String(args.column_name),
        rowId: String(args.row_id),
        vector: args.query_vector as number[],
        metadata: args.metadata,
      });
    },
  }),
  declareFunction({
    name: 'pg_llm_search_vectors',
    arguments: [
      { name: 'query_vector', type: 'vector' },
      { name: 'limit_count', type: 'integer', default: '10' },
      { name: 'similarity_threshold', type: 'real', default: '0.7' },
    ],
    result: {
      kind: 'table',
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'table_name', type: 'text' },
        { name: 'column_name', type: 'text' },
        { name: 'row_id', type: 'bigint' },
        { name: 'similarity', type: 'real' },
        { name: 'metadata', type: 'jsonb' },
      ],
    },
    strict: true,
    description: 'The stored vectors most similar to the query (cosine), most similar first, down to the threshold.',
    models: noModel,
    async run(args, context) {
      const limit = Number(args.limit_count);
      if (limit < 0) throw new PgError('22023', 'limit_count must not be negative');
      return searchVectors(context, { vector: args.query_vector as number[], limit, threshold: Number(args.similarity_threshold) });
    },
  }),
];
