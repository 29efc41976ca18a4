// pgai's ai.vectorizer_embed (its db/sql/idempotent/012-vectorizer-api.sql): the embedding of a text (a search query,
// typically) by a vectorizer's embedding model, so that it compares with the vectorizer's stored embeddings. Given an
// embedding config, a vectorizer's id or its name, it is the call pgai makes: ai.openai_embed with the config's model,
// dimensions, user and api_key_name; ai.ollama_embed with its model, base_url as host, keep_alive and options;
// ai.voyageai_embed with its model and api_key_name, input_type 'query' unless given. Keys and servers are found as
// those functions find them, in the caller's session; the config's base_url is the call's own server here too (pgai's
// left it out for OpenAI, sending the query to another server than the vectorizer's). A vectorizer's config is its
// owner's writing, and the key is the caller's: a server or key name it chooses is used only for a caller that trusts
// its owner (below), else refused before anything is sent, as a role could otherwise receive an admin's key and
// queries on a server of its own. Even then a key the session handed the proxy goes there only where the client
// named that server, and that key name, itself, as for any call.

import { PgError } from '../../proxy/pg-error.js';
import { MAX_CONFIG_BYTES } from '../../src/catalog/models.js';
import { storedJson } from '../../src/catalog/stored-json.js';
import { trustedOwner } from '../../src/catalog/trusted-owner.js';
import type { PgaiApiName } from '../../src/providers/pgai/apis.js';
import { declareFunction, type ArgumentDeclaration, type CallContext, type FunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';
import { refuseStoredUrlCredentials } from './vectorizer-config.js';
import { defaultKeyName } from './endpoint.js';
import { ollamaFunctions } from './ollama.js';
import { openAiFunctions } from './openai.js';
import { voyageAiFunctions } from './voyageai.js';
import { settingCase } from '../../src/sql/setting-case.js';

const SCHEMA = 'ai';

/** The function of the pgai provider that embeds one text. */
function embedOne(functions: FunctionDeclaration[], name: string): FunctionDeclaration {
  return functions.find((declaration) => declaration.name === name && declaration.arguments[1]?.name === 'input_text')!;
}

/** Each served embedding implementation (named as its API): the function pgai calls, and its arguments from the config. */
const EMBEDDERS: Partial<Record<PgaiApiName, { embed: FunctionDeclaration; args: (config: Record<string, unknown>, inputType: unknown) => Record<string, unknown> }>> = {
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

/** A vectorizer whose owner the caller does not trust with where its key and text go. */
interface UntrustedVectorizer {
  vectorizer: string;
  owner: string;
}

/**
 * An embedding config, and the vectorizer it is of where the caller does not trust that vectorizer's owner;
 */
interface Found {
  config: unknown;
  untrusted?: UntrustedVectorizer;
  /** The vectorizer's name, quoted: the config is its (the caller's trust decided), not the call's own argument. */
  vectorizer?: string;
}

async function embed(context: CallContext, found: Found, inputText: unknown, inputType: unknown): Promise<unknown> {
  if (found.config === null || found.config === undefined) return null;
  const embedding = found.config as Record<string, unknown>;
  const api = String(embedding.implementation) as PgaiApiName;
  // Own keys only: an implementation such as "constructor" names no embedder.
  const embedder = Object.hasOwn(EMBEDDERS, api) ? EMBEDDERS[api] : undefined;
  if (!embedder) {
    throw new PgError('22023', 'unsupported embedding implementation', { hint: `Served: ${Object.keys(EMBEDDERS).join(', ')}.` });
  }
  if (found.vectorizer) refuseStoredUrlCredentials(embedding, found.vectorizer);
  const args = embedder.args(embedding, inputType);
  if (found.untrusted) refuseChoices(found.untrusted, api, embedder.embed.name, args);
  // Neither the server nor the key name a config chooses counts as the client's naming of it, a vectorizer's no more
  // than a config given as the argument: code of another role that the session ran (a view's function) may have
  // written the caller's own vectorizer's config, as the caller's role may (review W2). A held key goes there only
  // when the client named the server and the key name itself (functions/pgai/endpoint.ts).
  return embedder.embed.run({ model: embedding.model ?? null, input_text: inputText, ...args }, context);
}

/** The server the arguments taken from a config choose, if any. */
function configServer(args: Record<string, unknown>): string | undefined {
  const server = args.host ?? (args.client_config as { base_url?: unknown } | null)?.base_url;
  return typeof server === 'string' && server !== '' ? server : undefined;
}

/**
 * Refuses (42501) the arguments taken from the config of a vectorizer whose owner the caller does not trust where
 * they choose where the caller's text and key go: a server, or a key name other than the provider's own. Without
 * them the call goes where the caller's own session says, with its key for that provider.
 */
function refuseChoices(untrusted: UntrustedVectorizer, api: PgaiApiName, embedFunction: string, args: Record<string, unknown>): void {
  const keyName = args.api_key_name;
  const chosen = [
    ...(configServer(args) === undefined ? [] : ['base_url']),
    ...(typeof keyName === 'string' && keyName !== '' && settingCase(keyName) !== settingCase(defaultKeyName(api) ?? '') ? ['api_key_name'] : []),
  ];
  if (chosen.length === 0) return;
  // The URL is not in the error: the server's log gets it, and a URL may carry credentials.
  throw new PgError('42501', `vectorizer "${untrusted.vectorizer}" of role "${untrusted.owner}" chooses the ${chosen.join(' and ')} of its embedding: a caller's key and text go only where the caller, a role whose rights it has, the catalog's owner or an admin chose`, {
    hint: `Embed the text with ai.${embedFunction}(…) naming the model yourself, with your session's server and key, or ask role "${untrusted.owner}" to embed it.`,
  });
}

/**
 * SQL: whether the caller trusts what vectorizer v's config chooses: its owner's rights are the caller's (but not only
 * by being a superuser, who has every role's), or its owner is one whose rows any role trusts (trusted-owner.ts).
 */
const TRUSTED = `(${trustedOwner('pg_catalog.pg_get_userbyid(v.owner)', 'current_user')}
  OR (pg_catalog.pg_has_role(current_user, v.owner, 'USAGE') AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user)))`;

/**
 * The embedding config of the vectorizer the SQL (given $1) finds, as the caller's row security lets it see it. Its
 * owner writes it, of any size while the vectorizer is disabled, and it is parsed on the event loop every session
 * shares: the server measures it, and sends none past MAX_CONFIG_BYTES, the bound of a model's config, which it is.
 */
async function vectorizerConfig(context: CallContext, vectorizer: string, sql: string): Promise<Found> {
  const [row] = await context.query(
    `SELECT v.name, pg_catalog.pg_get_userbyid(v.owner) AS owner, CASE WHEN NOT size.oversized THEN v.config OPERATOR(pg_catalog.->) 'embedding' END AS embedding,
            size.oversized, ${TRUSTED} AS trusted
       FROM _pg_llm_catalog.pg_llm_vectorizers v
            CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.octet_length((v.config OPERATOR(pg_catalog.->) 'embedding')::pg_catalog.text), 0)
                                         OPERATOR(pg_catalog.>) ${MAX_CONFIG_BYTES} AS oversized) AS size
      WHERE v.id OPERATOR(pg_catalog.=) ${sql}`,
    [vectorizer],
  );
  if (row?.oversized === 't') {
    throw new PgError('54000', `the embedding config of vectorizer "${row.name}" is larger than the proxy reads (${MAX_CONFIG_BYTES} bytes as JSON text)`, {
      hint: "An embedding config names a model, its server and options: make the vectorizer's smaller, or embed the text with ai.vectorizer_embed(config, …) naming a config yourself.",
    });
  }
  if (!row?.embedding) return { config: null };
  return { config: storedJson(row.embedding, `the embedding config of vectorizer "${row.name}"`), vectorizer: `"${row.name}"`, ...(row.trusted === 't' ? {} : { untrusted: { vectorizer: row.name!, owner: row.owner! } }) };
}

/** One of pgai's overloads: the embedding config found from its first argument (NULL: no embedding). */
function overload(first: ArgumentDeclaration, description: string, config: (given: unknown, context: CallContext) => Promise<Found>): FunctionDeclaration {
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
  overload({ name: 'embedding_config', type: 'jsonb' }, 'The embedding of a text by the model of an embedding config (pgai).', async (config) => ({ config })),
  overload({ name: 'vectorizer_id', type: 'integer' }, "The embedding of a text by a vectorizer's model, to compare with its embeddings (pgai).", (id, context) =>
    vectorizerConfig(context, String(id), '$1::pg_catalog.int4'),
  ),
  overload({ name: 'name', type: 'text' }, "The embedding of a text by a vectorizer's model, to compare with its embeddings; by the vectorizer's name (pgai).", (name, context) =>
    vectorizerConfig(context, String(name), '_pg_llm_catalog.vectorizer_named($1)'),
  ),
];
