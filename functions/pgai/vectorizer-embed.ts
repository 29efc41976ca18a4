// pgai's ai.vectorizer_embed (its db/sql/idempotent/012-vectorizer-api.sql): the embedding of a text (a search query,
// typically) by a vectorizer's embedding model, so that it compares with the vectorizer's stored embeddings. Given an
// embedding config, a vectorizer's id or its name, it is the call pgai makes: ai.openai_embed with the config's model,
// dimensions, user and api_key_name; ai.ollama_embed with its model, base_url as host, keep_alive and options;
// ai.voyageai_embed with its model and api_key_name, input_type 'query' unless given. Keys and servers are found as
// those functions find them, in the caller's session; the config's base_url is the call's own server here too (pgai's
// left it out for OpenAI, sending the query to another server than the vectorizer's).

import { PgError } from '../../proxy/pg-error.js';
import { declareFunction, type ArgumentDeclaration, type CallContext, type FunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';
import { ollamaFunctions } from './ollama.js';
import { openAiFunctions } from './openai.js';
import { voyageAiFunctions } from './voyageai.js';

const SCHEMA = 'ai';

/** The function of the pgai provider that embeds one text. */
function embedOne(functions: FunctionDeclaration[], name: string): FunctionDeclaration {
  return functions.find((declaration) => declaration.name === name && declaration.arguments[1]?.name === 'input_text')!;
}

/** Each served embedding implementation: the function pgai calls, and its arguments from the config. */
const EMBEDDERS: Record<string, { embed: FunctionDeclaration; args: (config: Record<string, unknown>, inputType: unknown) => Record<string, unknown> }> = {
  openai: {
    embed: embedOne(openAiFunctions, 'openai_embed'),
    args: (config) => ({
      api_key_name: config.api_key_name ?? null,
      dimensions: config.dimensions ?? null,
      openai_user: config.user ?? null,
      client_config: typeof config.base_url === 'string' ? { base_url: config.base_url } : null,
    }),
  },
  ollama: {
    embed: embedOne(ollamaFunctions, 'ollama_embed'),
    args: (config) => ({ host: config.base_url ?? null, keep_alive: config.keep_alive ?? null, embedding_options: config.options ?? null }),
  },
  voyageai: {
    embed: embedOne(voyageAiFunctions, 'voyageai_embed'),
    args: (config, inputType) => ({ input_type: inputType ?? 'query', api_key_name: config.api_key_name ?? null }),
  },
};

async function embed(context: CallContext, config: unknown, inputText: unknown, inputType: unknown): Promise<unknown> {
  if (config === null || config === undefined) return null;
  const embedding = config as Record<string, unknown>;
  const embedder = EMBEDDERS[String(embedding.implementation)];
  if (!embedder) {
    throw new PgError('22023', 'unsupported embedding implementation', { hint: `Served: ${Object.keys(EMBEDDERS).join(', ')}.` });
  }
  return embedder.embed.run({ model: embedding.model ?? null, input_text: inputText, ...embedder.args(embedding, inputType) }, context);
}

/** The embedding config of the vectorizer the SQL (given $1) finds, as the caller's row security lets it see it. */
async function vectorizerConfig(context: CallContext, vectorizer: string, sql: string): Promise<unknown> {
  const [row] = await context.query(`SELECT v.config OPERATOR(pg_catalog.->) 'embedding' AS embedding FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id OPERATOR(pg_catalog.=) ${sql}`, [vectorizer]);
  return row?.embedding ? JSON.parse(row.embedding) : null;
}

/** One of pgai's overloads: the embedding config found from its first argument (NULL: no embedding). */
function overload(first: ArgumentDeclaration, description: string, config: (given: unknown, context: CallContext) => Promise<unknown>): FunctionDeclaration {
  return declareFunction({
    schema: SCHEMA,
    name: 'vectorizer_embed',
    arguments: [first, { name: 'input_text', type: 'text' }, nullable('input_type', 'text')],
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description,
    run: async (args, context) => {
      const given = args[first.name];
      return given === null ? null : embed(context, await config(given, context), args.input_text, args.input_type);
    },
  });
}

export const vectorizerEmbedFunctions: FunctionDeclaration[] = [
  overload({ name: 'embedding_config', type: 'jsonb' }, 'The embedding of a text by the model of an embedding config (pgai).', async (config) => config),
  overload({ name: 'vectorizer_id', type: 'integer' }, "The embedding of a text by a vectorizer's model, to compare with its embeddings (pgai).", (id, context) =>
    vectorizerConfig(context, String(id), '$1::pg_catalog.int4'),
  ),
  overload({ name: 'name', type: 'text' }, "The embedding of a text by a vectorizer's model, to compare with its embeddings; by the vectorizer's name (pgai).", (name, context) =>
    vectorizerConfig(context, String(name), '_pg_llm_catalog.vectorizer_named($1)'),
  ),
];
