// pgai's vectorizer configuration builders (its db/sql/idempotent/001-010): each returns the jsonb object that
// ai.create_vectorizer takes, {"implementation": …, "config_type": …} with its arguments, the NULL ones left out
// (loading_column keeps them, as pgai's does). They need no model, so they are real SQL functions: they run in the
// server, in any context, through the proxy or not.

import { PgError } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../../src/crypto/config-secrets.js';
import { declareSqlFunction, type ArgumentDeclaration, type SqlFunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';

const SCHEMA = 'ai';
const JSONB = { kind: 'scalar' as const, type: 'jsonb' };

const required = (name: string, type: string): ArgumentDeclaration => ({ name, type });
const given = (name: string, type: string, value: string): ArgumentDeclaration => ({ name, type, default: value });

interface Builder {
  name: string;
  configType: string;
  implementation: string;
  arguments?: ArgumentDeclaration[];
  /** Fields named otherwise than their argument: { field: argument } (embedding_openai's user is chat_user). */
  renamed?: Record<string, string>;
  /** Keep NULL fields (pgai's loading_column does). */
  keepNulls?: boolean;
  description: string;
}

/** The config object: implementation and config_type, then each argument under its field name. */
function objectSql({ configType, implementation, arguments: args = [], renamed = {}, keepNulls }: Builder): string {
  const fieldOf = new Map(Object.entries(renamed).map(([field, argument]) => [argument, field]));
  const fields = args.map((argument) => `, '${fieldOf.get(argument.name) ?? argument.name}', "${argument.name}"`).join('');
  const object = `pg_catalog.jsonb_build_object('implementation', '${implementation}', 'config_type', '${configType}'${fields})`;
  return keepNulls ? object : `pg_catalog.jsonb_strip_nulls(${object})`;
}

function builder(spec: Builder): SqlFunctionDeclaration {
  return declareSqlFunction({
    schema: SCHEMA,
    name: spec.name,
    arguments: spec.arguments ?? [],
    result: JSONB,
    strict: false,
    description: spec.description,
    language: 'sql',
    volatility: 'IMMUTABLE',
    body: `SELECT ${objectSql(spec)}`,
  });
}

const MIN_ROWS = given('min_rows', 'integer', '100000');
const WHEN_QUEUE_EMPTY = given('create_when_queue_empty', 'boolean', 'true');

export const vectorizerConfigFunctions: SqlFunctionDeclaration[] = [
  builder({
    name: 'loading_column',
    configType: 'loading',
    implementation: 'column',
    arguments: [required('column_name', 'name'), given('retries', 'integer', '6')],
    keepNulls: true,
    description: "The vectorizer's text: a column of the source table (pgai).",
  }),
  builder({
    name: 'loading_uri',
    configType: 'loading',
    implementation: 'uri',
    arguments: [required('column_name', 'name'), given('retries', 'integer', '6'), nullable('aws_role_arn', 'text')],
    description: "The vectorizer's text: the document at the URI a column of the source table holds; the proxy's worker fetches http and https ones (pgai).",
  }),
  builder({
    name: 'parsing_auto',
    configType: 'parsing',
    implementation: 'auto',
    description: 'Parsing of loaded documents: automatic (a text column is taken as it is) (pgai).',
  }),
  builder({ name: 'parsing_none', configType: 'parsing', implementation: 'none', description: 'No parsing: the loaded text as it is (pgai).' }),
  builder({
    name: 'embedding_openai',
    configType: 'embedding',
    implementation: 'openai',
    arguments: [required('model', 'text'), required('dimensions', 'integer'), nullable('chat_user', 'text'), { ...given('api_key_name', 'text', "'OPENAI_API_KEY'::text"), keyName: true }, nullable('base_url', 'text')],
    renamed: { user: 'chat_user' },
    description: "Embeddings by OpenAI's API, of the model and dimensions given (pgai).",
  }),
  builder({
    name: 'embedding_ollama',
    configType: 'embedding',
    implementation: 'ollama',
    arguments: [required('model', 'text'), required('dimensions', 'integer'), nullable('base_url', 'text'), nullable('options', 'jsonb'), nullable('keep_alive', 'text')],
    description: 'Embeddings by an Ollama server (pgai).',
  }),
  voyageAiBuilder(),
  builder({
    name: 'chunking_character_text_splitter',
    configType: 'chunking',
    implementation: 'character_text_splitter',
    arguments: [given('chunk_size', 'integer', '800'), given('chunk_overlap', 'integer', '400'), given('separator', 'text', "E'\\n\\n'"), given('is_separator_regex', 'boolean', 'false')],
    description: 'Chunks between separators, merged up to chunk_size characters (pgai; as ai.chunk_text).',
  }),
  builder({
    name: 'chunking_recursive_character_text_splitter',
    configType: 'chunking',
    implementation: 'recursive_character_text_splitter',
    arguments: [
      given('chunk_size', 'integer', '800'),
      given('chunk_overlap', 'integer', '400'),
      given('separators', 'text[]', "ARRAY[E'\\n\\n', E'\\n', '.', '?', '!', ' ', '']"),
      given('is_separator_regex', 'boolean', 'false'),
    ],
    description: 'Chunks cut at the first separator that serves, up to chunk_size characters (pgai; as ai.chunk_text_recursively).',
  }),
  builder({ name: 'chunking_none', configType: 'chunking', implementation: 'none', description: 'No chunking: each row is one chunk (pgai).' }),
  builder({
    name: 'formatting_python_template',
    configType: 'formatting',
    implementation: 'python_template',
    arguments: [given('template', 'text', "'$chunk'::text")],
    description: "What is embedded of each chunk: a template where $chunk is the chunk and $column a column of the row (pgai).",
  }),
  builder({
    name: 'destination_table',
    configType: 'destination',
    implementation: 'table',
    arguments: ['destination', 'target_schema', 'target_table', 'view_schema', 'view_name'].map((name) => nullable(name, 'name')),
    description: 'Embeddings in a table of their own (<source>_embedding_store) and a view joining it to the source (<source>_embedding) (pgai).',
  }),
  builder({
    name: 'destination_column',
    configType: 'destination',
    implementation: 'column',
    arguments: [required('embedding_column', 'name')],
    description: 'The embedding in a column of the source row itself (with chunking_none) (pgai).',
  }),
  builder({ name: 'indexing_none', configType: 'indexing', implementation: 'none', description: 'No vector index on the embeddings (pgai).' }),
  builder({ name: 'indexing_default', configType: 'indexing', implementation: 'default', description: 'The default vector index (pgai).' }),
  builder({
    name: 'indexing_diskann',
    configType: 'indexing',
    implementation: 'diskann',
    arguments: [
      MIN_ROWS,
      nullable('storage_layout', 'text'),
      nullable('num_neighbors', 'integer'),
      nullable('search_list_size', 'integer'),
      nullable('max_alpha', 'double precision'),
      nullable('num_dimensions', 'integer'),
      nullable('num_bits_per_dimension', 'integer'),
      WHEN_QUEUE_EMPTY,
    ],
    description: "A pgvectorscale diskann index on the embeddings (pgai).",
  }),
  builder({
    name: 'indexing_hnsw',
    configType: 'indexing',
    implementation: 'hnsw',
    arguments: [MIN_ROWS, given('opclass', 'text', "'vector_cosine_ops'::text"), nullable('m', 'integer'), nullable('ef_construction', 'integer'), WHEN_QUEUE_EMPTY],
    description: "A pgvector hnsw index on the embeddings (pgai).",
  }),
  builder({ name: 'scheduling_none', configType: 'scheduling', implementation: 'none', description: 'No scheduled job: a worker processes the queue (pgai).' }),
  builder({ name: 'scheduling_default', configType: 'scheduling', implementation: 'default', description: 'The default schedule (pgai).' }),
  builder({
    name: 'scheduling_timescaledb',
    configType: 'scheduling',
    implementation: 'timescaledb',
    arguments: [
      given('schedule_interval', 'interval', "'00:05:00'::interval"),
      nullable('initial_start', 'timestamp with time zone'),
      nullable('fixed_schedule', 'boolean'),
      nullable('timezone', 'text'),
    ],
    description: 'A TimescaleDB job on a schedule (pgai).',
  }),
  builder({
    name: 'processing_default',
    configType: 'processing',
    implementation: 'default',
    arguments: [nullable('batch_size', 'integer'), nullable('concurrency', 'integer')],
    description: 'How the worker processes the queue: rows per batch (pgai).',
  }),
];

/** embedding_voyageai checks its input_type, as pgai's does. */
function voyageAiBuilder(): SqlFunctionDeclaration {
  const spec: Builder = {
    name: 'embedding_voyageai',
    configType: 'embedding',
    implementation: 'voyageai',
    arguments: [required('model', 'text'), required('dimensions', 'integer'), given('input_type', 'text', "'document'::text"), { ...given('api_key_name', 'text', "'VOYAGE_API_KEY'::text"), keyName: true }],
    description: "Embeddings by Voyage AI's API (pgai).",
  };
  return declareSqlFunction({
    ...builder(spec),
    language: 'plpgsql',
    body: `
BEGIN
  IF input_type IS NOT NULL AND input_type NOT IN ('query', 'document') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('invalid input_type for voyage ai "%s"', input_type);
  END IF;
  RETURN ${objectSql(spec)};
END
`,
  });
}

/**
 * Refuses a vectorizer's stored embedding config whose base_url carries a user, a password or a query: the catalog
 * takes none (0035_vectorizer_url_without_credentials.sql) and disabled those it had, so one found is there only past
 * its trigger, and is not sent anywhere. The URL is not in the error, which the server's log gets.
 */
export function refuseStoredUrlCredentials(embedding: Record<string, unknown>, vectorizer: string): void {
  const url = embedding.base_url;
  if (typeof url !== 'string' || !urlCarriesCredentials(url)) return;
  throw new PgError('22023', `the embedding base_url of vectorizer ${vectorizer} carries a user, a password or a query, which a vectorizer's config may not`, {
    hint: "Drop the vectorizer and create it again with a base_url without them, giving the key with api_key_name.",
  });
}
