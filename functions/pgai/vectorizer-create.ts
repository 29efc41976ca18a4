// pgai's ai.create_vectorizer (its db/sql/idempotent/012-vectorizer-api.sql), with its arguments and defaults, as a
// real function the server runs with its caller's rights: it records the vectorizer, creates the embedding store
// <source>_embedding_store (embedding_uuid, the source's key, chunk_seq, chunk, embedding) and the view <source>_embedding
// joining it to the source (or, for ai.destination_column, an embedding column in the source table), the queue of the
// keys to (re)embed and the queue of failed ones, and the trigger that queues every written row's key and removes a
// deleted row's chunks. The proxy's worker (src/worker/vectorizer*.ts) empties the queue.
//
// Everything it creates belongs to the source table's owner (the caller must be, or be a member of, that role):
// the owner's worker processes the vectorizer, and the trigger function, SECURITY DEFINER so that any role that may
// write the source may queue its rows, runs as the owner on the owner's own tables only.

import { declareSqlFunction, type SqlFunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';
import { sqlLiteral } from '../../src/sql/literal.js';

const SCHEMA = 'ai';

/** The channel the trigger and create_vectorizer wake the worker on (src/worker/vectorizer-worker.ts listens). */
export const VECTORIZER_CHANNEL = 'pg_llm_vectorizer';

/**
 * The most batches of one vectorizer in flight at once that processing_default's concurrency may ask for (pgai's own
 * bound); the worker holds them to its connections and the owner's share of model calls too.
 */
export const MAX_CONCURRENCY = 50;

/** Which implementations of each configuration the proxy serves; others are refused, naming what is served. */
const SERVED = {
  loading: ['column', 'uri'],
  parsing: ['auto', 'none'],
  embedding: ['openai', 'ollama', 'voyageai'],
  chunking: ['recursive_character_text_splitter', 'character_text_splitter', 'none'],
  formatting: ['python_template'],
  destination: ['table', 'column'],
  indexing: ['none', 'default', 'diskann', 'hnsw'],
  scheduling: ['none', 'default', 'timescaledb'],
  processing: ['default'],
};

/**
 * pgai's resolution and checks of the indexing and scheduling configs (create_vectorizer and set_scheduling): in a
 * function with the arguments indexing and scheduling. indexing_default is the setting ai.indexing_default's
 * (indexing_hnsw, indexing_diskann), else none; the worker builds the index (_pg_llm_catalog.vectorizer_index), which
 * needs pgvector, and pgvectorscale for diskann. No scheduling makes a job: the worker needs none.
 */
export const INDEXING_CHECKS = `  IF indexing ->> 'implementation' = 'default' THEN
    indexing := CASE pg_catalog.current_setting('ai.indexing_default', true)
                  WHEN 'indexing_hnsw' THEN ai.indexing_hnsw() WHEN 'indexing_diskann' THEN ai.indexing_diskann() ELSE ai.indexing_none() END;
  END IF;
  IF indexing ->> 'implementation' = 'hnsw' AND indexing ->> 'opclass' NOT IN ('vector_ip_ops', 'vector_cosine_ops', 'vector_l1_ops') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid opclass', HINT = 'One of vector_ip_ops, vector_cosine_ops, vector_l1_ops.';
  END IF;
  IF indexing ->> 'implementation' = 'diskann' AND indexing ->> 'storage_layout' NOT IN ('memory_optimized', 'plain') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid storage_layout', HINT = 'memory_optimized or plain.';
  END IF;
  IF scheduling ->> 'implementation' = 'none' AND indexing ->> 'implementation' <> 'none' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'automatic indexing is not supported without scheduling. set indexing=>ai.indexing_none() when scheduling=>ai.scheduling_none()';
  END IF;
  IF indexing ->> 'implementation' <> 'none' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension x WHERE x.extname = 'vector') THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = pg_catalog.format('indexing_%s needs pgvector, which this database does not have', indexing ->> 'implementation'),
      HINT = 'Without pgvector the embeddings are real[], which no vector index takes: pass indexing => ai.indexing_none(), or CREATE EXTENSION vector before ai.';
  END IF;
  IF indexing ->> 'implementation' = 'diskann' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension x WHERE x.extname = 'vectorscale') THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'indexing_diskann needs pgvectorscale (the vectorscale extension), which this database does not have',
      HINT = 'CREATE EXTENSION vectorscale where the server has it, or pass indexing => ai.indexing_hnsw().';
  END IF;`;

/**
 * The checks of the configs of `kinds` (arguments of the function, in a variable _check record): each a jsonb object
 * of its config_type, of an implementation the proxy serves.
 */
export function servedChecks(kinds: Array<keyof typeof SERVED>): string {
  const list = kinds.map((kind) => `('${kind}', ${kind}, ARRAY[${SERVED[kind].map((implementation) => `'${implementation}'`).join(', ')}])`).join(',\n      ');
  return `  FOR _check IN SELECT * FROM (VALUES
      ${list}) AS c(kind, config, served) LOOP
    IF pg_catalog.jsonb_typeof(_check.config) IS DISTINCT FROM 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('%s config is not a jsonb object', _check.kind);
    END IF;
    IF (_check.config ->> 'config_type') IS DISTINCT FROM _check.kind THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = pg_catalog.format('invalid config_type for %s config', _check.kind),
        HINT = pg_catalog.format('Build it with an ai.%s_ function.', _check.kind);
    END IF;
    IF NOT coalesce((_check.config ->> 'implementation') = ANY (_check.served), false) THEN
      RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = pg_catalog.format('%s implementation %s is not served by the proxy', _check.kind, coalesce(pg_catalog.quote_literal(_check.config ->> 'implementation'), 'NULL')),
        HINT = pg_catalog.format('Served: %s.', pg_catalog.array_to_string(_check.served, ', '));
    END IF;
  END LOOP;
`;
}

/**
 * The trigger function of a vectorizer, as a format() template: the queue, what else TRUNCATE empties (the store),
 * the store's deletion of a deleted or re-keyed row's chunks (STORE_DELETION, none for a column destination), the key
 * columns and their NEW values, the columns no change of which queues the row, and the vectorizer's id.
 */
const TRIGGER_BODY = `
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    TRUNCATE %1$s%2$s;
    RETURN NULL;
  END IF;
  %3$s
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.-) %6$s) IS DISTINCT FROM (pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) %6$s)) THEN
    INSERT INTO %1$s (%4$s) VALUES (%5$s);
    PERFORM pg_catalog.pg_notify('${VECTORIZER_CHANNEL}', %7$L);
  END IF;
  RETURN NULL;
END`;

/** STORE_DELETION's template: the store, the OLD and NEW keys, and the store's rows of the OLD key. */
const STORE_DELETION = `IF TG_OP IN ('DELETE', 'UPDATE') AND (TG_OP = 'DELETE' OR (%2$s) IS DISTINCT FROM (%3$s)) THEN
    DELETE FROM %1$s AS t WHERE %4$s;
  END IF;`;

/**
 * The embedding columns of the source's vectorizers with a column destination, as pgai's trigger finds them when it
 * fires (format() template: the source's schema and name): the worker writing one must not queue the row again, for
 * this vectorizer or another.
 */
const EMBEDDING_COLUMNS = `ARRAY(SELECT v.config -> 'destination' ->> 'embedding_column' FROM _pg_llm_catalog.pg_llm_vectorizers v
    WHERE v.source_schema = %1$L AND v.source_table = %2$L AND v.config -> 'destination' ->> 'implementation' = 'column')`;

const BODY = `
DECLARE
  _check record;
  _schema pg_catalog.name;
  _table pg_catalog.name;
  _owner oid;
  _pk jsonb;
  _dimensions integer;
  _id integer;
  _trigger pg_catalog.name;
  _failed pg_catalog.name;
  _target_schema pg_catalog.name;
  _target_table pg_catalog.name;
  _view_schema pg_catalog.name;
  _view_name pg_catalog.name;
  _column pg_catalog.name;
  _vector_type text;
  _key_definitions text;
  _key_list text;
  _column_type text;
  _grantees text;
  _squatted_schema pg_catalog.name;
  _squatted pg_catalog.name;
  _other text;
BEGIN
  IF embedding IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'embedding configuration is required', HINT = 'Pass embedding => ai.embedding_openai(''text-embedding-3-small'', 768), or another embedding_ builder.';
  END IF;
  IF loading IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'loading configuration is required', HINT = 'Pass loading => ai.loading_column(''the text column'').';
  END IF;

  SELECT c.relname, n.nspname, c.relowner INTO STRICT _table, _schema, _owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
  IF NOT pg_catalog.pg_has_role(current_user, _owner, 'MEMBER') THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = pg_catalog.format('only the owner of %s (or a member of its role) may create a vectorizer on it', source),
      HINT = 'The vectorizer''s tables, queue and trigger belong to the table''s owner, whose worker processes it.';
  END IF;

${servedChecks(Object.keys(SERVED) as Array<keyof typeof SERVED>)}
${INDEXING_CHECKS}

  _dimensions := (embedding ->> 'dimensions')::integer;
  IF _dimensions IS NULL OR _dimensions < 1 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'dimensions argument is required';
  END IF;
  SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO _column_type
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = source AND a.attname = loading ->> 'column_name' AND a.attnum > 0 AND NOT a.attisdropped;
  IF _column_type IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42703', MESSAGE = pg_catalog.format('column_name in config does not exist in the table: %s', loading ->> 'column_name');
  END IF;
  IF loading ->> 'implementation' = 'uri' AND loading ->> 'aws_role_arn' IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'loading_uri''s aws_role_arn is not served by the proxy: its worker fetches http and https URIs only',
      HINT = 'Serve the documents over https (a presigned URL, say), or load their text from a column with ai.loading_column.';
  END IF;
  IF loading ->> 'implementation' = 'uri' AND parsing ->> 'implementation' = 'none' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'Cannot chunk Document with parsing_none, use parsing_auto or parsing_pymupdf',
      HINT = 'Pass parsing => ai.parsing_auto(): the proxy''s worker takes text and markdown documents as they are.';
  END IF;
  IF _column_type !~ '^(text|character varying|character)\\M' THEN
    RAISE EXCEPTION USING ERRCODE = '42804', MESSAGE = pg_catalog.format('column_name %s in config is of invalid type %s. Supported types are: text, varchar, char', loading ->> 'column_name', _column_type);
  END IF;
  IF pg_catalog.strpos(formatting ->> 'template', '$chunk') = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'template must contain $chunk placeholder';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = source AND a.attname = 'chunk' AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'formatting_python_template may not be used when source table has a column named "chunk"';
  END IF;
  IF (processing ->> 'batch_size')::integer NOT BETWEEN 1 AND 2048 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'batch_size must be between 1 and 2048';
  END IF;
  IF (processing ->> 'concurrency')::integer NOT BETWEEN 1 AND ${MAX_CONCURRENCY} THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'concurrency must be between 1 and ${MAX_CONCURRENCY}';
  END IF;
  -- The proxy's batch mode (src/worker/vectorizer-batches.ts): OpenAI's batch API, for a column's text.
  IF processing ? 'batch_api' AND pg_catalog.jsonb_typeof(processing -> 'batch_api') <> 'boolean' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'batch_api in the processing config must be true or false';
  END IF;
  IF (processing -> 'batch_api') = 'true'::jsonb AND embedding ->> 'implementation' <> 'openai' THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = pg_catalog.format('batch_api is for ai.embedding_openai: the %s embeddings API has no batch API', embedding ->> 'implementation');
  END IF;
  IF (processing -> 'batch_api') = 'true'::jsonb AND loading ->> 'implementation' = 'uri' THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'batch_api is for a column''s text (ai.loading_column), not documents (ai.loading_uri)';
  END IF;

  SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('attnum', a.attnum, 'pknum', k.pknum, 'attname', a.attname, 'typname', pg_catalog.format_type(a.atttypid, a.atttypmod)) ORDER BY k.pknum)
    INTO _pk
    FROM pg_catalog.pg_constraint c
   CROSS JOIN LATERAL pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, pknum)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
   WHERE c.conrelid = source AND c.contype = 'p';
  IF _pk IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'source table must have a primary key constraint',
      HINT = pg_catalog.format('ALTER TABLE %s ADD PRIMARY KEY (…)', source);
  END IF;
  SELECT pg_catalog.string_agg(pg_catalog.format('%I %s NOT NULL', k.attname, k.typname), ', ' ORDER BY k.pknum),
         pg_catalog.string_agg(pg_catalog.format('%I', k.attname), ', ' ORDER BY k.pknum)
    INTO _key_definitions, _key_list
    FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name, typname pg_catalog.text);

  IF destination ->> 'implementation' = 'column' THEN
    -- pgai's destination_column: the embedding in a column of the source table, one a row, so the text is not cut.
    _column := destination ->> 'embedding_column';
    IF _column IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'embedding_column is required for a column destination';
    END IF;
    IF chunking ->> 'implementation' <> 'none' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'chunking must be none for column destination', HINT = 'Pass chunking => ai.chunking_none().';
    END IF;
    destination := pg_catalog.jsonb_build_object('implementation', 'column', 'config_type', 'destination', 'embedding_column', _column);
    name := coalesce(name, _schema || '_' || _table || '_' || _column);
  ELSE
    _target_schema := coalesce(destination ->> 'target_schema', _schema);
    _target_table := coalesce(destination ->> 'target_table', (destination ->> 'destination') || '_store', _table || '_embedding_store');
    _view_schema := coalesce(destination ->> 'view_schema', _schema);
    _view_name := coalesce(destination ->> 'view_name', destination ->> 'destination', _table || '_embedding');
    destination := pg_catalog.jsonb_build_object('implementation', 'table', 'config_type', 'destination',
      'target_schema', _target_schema, 'target_table', _target_table, 'view_schema', _view_schema, 'view_name', _view_name);
    name := coalesce(name, _target_schema || '_' || _target_table);
  END IF;
  SELECT v.id INTO _id FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.name = create_vectorizer.name AND v.owner = _owner;
  IF _id IS NOT NULL THEN
    IF NOT if_not_exists THEN
      RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = pg_catalog.format('a vectorizer named %s already exists.', name);
    END IF;
    RAISE NOTICE 'a vectorizer named % already exists, skipping', name;
    RETURN _id;
  END IF;
  -- The names another role's table's vectorizer would take by default are not this one's to take first (in a schema
  -- both may create in): that role's ai.create_vectorizer would find them taken.
  SELECT d.nspname, d.taken, pg_catalog.format('%I.%I', n.nspname, c.relname) INTO _squatted_schema, _squatted, _other
    FROM (VALUES (_target_schema, _target_table), (_view_schema, _view_name)) AS d(nspname, taken)
    JOIN pg_catalog.pg_namespace n ON n.nspname = d.nspname
    JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND d.taken::pg_catalog.text IN (c.relname || '_embedding_store', c.relname || '_embedding')
   WHERE c.relkind IN ('r', 'p') AND c.oid <> source AND NOT pg_catalog.pg_has_role(_owner, c.relowner, 'MEMBER')
   LIMIT 1;
  IF _other IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = pg_catalog.format('the destination %I.%I takes the name of the embeddings of %s, a table of another role', _squatted_schema, _squatted, _other),
      HINT = 'Name the destination after a table of your own: destination => ai.destination_table(''…'').';
  END IF;
  IF _column IS NULL AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', _view_schema, _view_name)) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = pg_catalog.format('an object named %s.%s already exists. specify an alternate destination or view_name explicitly', _view_schema, _view_name);
  END IF;
  IF _column IS NULL AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', _target_schema, _target_table)) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = pg_catalog.format('an object named %s.%s already exists. specify an alternate destination or target_table explicitly', _target_schema, _target_table);
  END IF;

  -- The sequence cycles (incremental/0031_vectorizer_ids_cycle.sql): past the ids vectorizers still hold.
  LOOP
    _id := pg_catalog.nextval('_pg_llm_catalog.pg_llm_vectorizer_id_seq');
    EXIT WHEN NOT _pg_llm_catalog.vectorizer_id_held(_id);
  END LOOP;
  _trigger := '_vectorizer_src_trg_' || _id;
  _failed := '_vectorizer_q_failed_' || _id;
  -- pgai's queues are in schema ai, where only the installer may create; anyone else's go beside the source.
  queue_schema := coalesce(queue_schema, CASE WHEN pg_catalog.has_schema_privilege('ai', 'CREATE') THEN 'ai' ELSE _schema END);
  queue_table := coalesce(queue_table, '_vectorizer_q_' || _id);
  IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', queue_schema, queue_table)) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = pg_catalog.format('an object named %s.%s already exists. specify an alternate queue_table explicitly', queue_schema, queue_table);
  END IF;

  -- pgvector's vector where the database has it, in the schema it is installed in; real[] where it has not.
  SELECT pg_catalog.format('%I.vector(%s)', n.nspname, _dimensions) INTO _vector_type
    FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'vector';
  IF _column IS NOT NULL THEN
    -- As pgai: a column of that name already there is taken as it is.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = source AND a.attname = _column AND NOT a.attisdropped) THEN
      EXECUTE pg_catalog.format('ALTER TABLE %I.%I ADD COLUMN %I %s', _schema, _table, _column, coalesce(_vector_type, 'real[]'));
    END IF;
  ELSE
  EXECUTE pg_catalog.format(
    'CREATE TABLE %I.%I (embedding_uuid uuid NOT NULL PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(), %s, chunk_seq integer NOT NULL, chunk text NOT NULL, embedding %s NOT NULL, UNIQUE (%s, chunk_seq))',
    _target_schema, _target_table, _key_definitions, coalesce(_vector_type, 'real[]'), _key_list);
  EXECUTE pg_catalog.format(
    'CREATE VIEW %I.%I AS SELECT t.embedding_uuid, t.chunk_seq, t.chunk, t.embedding, %s FROM %I.%I t LEFT JOIN %I.%I s ON %s',
    _view_schema, _view_name,
    (SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I', CASE WHEN _pk @> pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('attnum', a.attnum)) THEN 't' ELSE 's' END, a.attname), ', ' ORDER BY a.attnum)
       FROM pg_catalog.pg_attribute a WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped),
    _target_schema, _target_table, _schema, _table,
    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = s.%1$I', k.attname), ' AND ' ORDER BY k.pknum) FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name)));
  EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I', _target_schema, _target_table, pg_catalog.pg_get_userbyid(_owner));
  EXECUTE pg_catalog.format('ALTER VIEW %I.%I OWNER TO %I', _view_schema, _view_name, pg_catalog.pg_get_userbyid(_owner));
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TABLE %I.%I (%s, queued_at timestamptz NOT NULL DEFAULT pg_catalog.now(), loading_retries integer NOT NULL DEFAULT 0, loading_retry_after timestamptz)',
    queue_schema, queue_table, _key_definitions);
  EXECUTE pg_catalog.format('CREATE INDEX ON %I.%I (%s)', queue_schema, queue_table, _key_list);
  EXECUTE pg_catalog.format(
    'CREATE TABLE %I.%I (%s, created_at timestamptz NOT NULL DEFAULT pg_catalog.now(), failure_step text NOT NULL DEFAULT '''')',
    queue_schema, _failed, _key_definitions);

  EXECUTE pg_catalog.format(
    'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L',
    queue_schema, _trigger,
    pg_catalog.format(${sqlLiteral(TRIGGER_BODY)},
      pg_catalog.format('%I.%I', queue_schema, queue_table),
      CASE WHEN _column IS NULL THEN pg_catalog.format(', %I.%I', _target_schema, _target_table) ELSE '' END,
      CASE WHEN _column IS NULL THEN pg_catalog.format(${sqlLiteral(STORE_DELETION)},
        pg_catalog.format('%I.%I', _target_schema, _target_table),
        (SELECT pg_catalog.string_agg(pg_catalog.format('OLD.%I', k.attname), ', ' ORDER BY k.pknum) FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name)),
        (SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I', k.attname), ', ' ORDER BY k.pknum) FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name)),
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%1$I = OLD.%1$I', k.attname), ' AND ' ORDER BY k.pknum) FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name))) ELSE '' END,
      _key_list,
      (SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I', k.attname), ', ' ORDER BY k.pknum) FROM pg_catalog.jsonb_to_recordset(_pk) AS k(pknum integer, attname pg_catalog.name)),
      pg_catalog.format(${sqlLiteral(EMBEDDING_COLUMNS)}, _schema, _table),
      _id::pg_catalog.text));
  EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', queue_schema, _trigger);
  EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I()', _trigger, _schema, _table, queue_schema, _trigger);
  EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER TRUNCATE ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()', _trigger || '_truncate', _schema, _table, queue_schema, _trigger);

  -- All of it the table owner's, whichever member of its role created it (the store and view above).
  EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I', queue_schema, queue_table, pg_catalog.pg_get_userbyid(_owner));
  EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I', queue_schema, _failed, pg_catalog.pg_get_userbyid(_owner));
  EXECUTE pg_catalog.format('ALTER FUNCTION %I.%I() OWNER TO %I', queue_schema, _trigger, pg_catalog.pg_get_userbyid(_owner));
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(g), ', ') INTO _grantees FROM pg_catalog.unnest(grant_to) AS g WHERE g = 'public' OR pg_catalog.to_regrole(g) IS NOT NULL;
  IF _grantees IS NOT NULL AND _column IS NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I, %I.%I TO %s', _target_schema, _target_table, _view_schema, _view_name, _grantees);
  END IF;

  INSERT INTO _pg_llm_catalog.pg_llm_vectorizers (id, name, owner, source_schema, source_table, source_pk, trigger_name, queue_schema, queue_table, queue_failed_table, config)
  VALUES (_id, name, _owner, _schema, _table, _pk, _trigger, queue_schema, queue_table, _failed,
          pg_catalog.jsonb_build_object('version', 'pg_llm', 'loading', loading, 'parsing', parsing, 'embedding', embedding, 'chunking', chunking,
            'indexing', indexing, 'formatting', formatting, 'scheduling', scheduling, 'processing', processing, 'destination', destination));
  IF enqueue_existing THEN
    EXECUTE pg_catalog.format('INSERT INTO %I.%I (%s) SELECT %s FROM %I.%I', queue_schema, queue_table, _key_list, _key_list, _schema, _table);
  END IF;
  PERFORM pg_catalog.pg_notify('${VECTORIZER_CHANNEL}', _id::pg_catalog.text);
  RETURN _id;
END
`;

export const vectorizerCreateFunctions: SqlFunctionDeclaration[] = [
  declareSqlFunction({
    schema: SCHEMA,
    name: 'grant_to',
    arguments: [{ name: 'grantees', type: 'name[]', variadic: true }],
    result: { kind: 'scalar', type: 'name[]' },
    strict: false,
    description: 'The roles given, and those of the setting ai.grant_to_default (pgai).',
    language: 'sql',
    volatility: 'VOLATILE',
    body: `
SELECT coalesce(pg_catalog.array_agg(DISTINCT r::name), ARRAY[]::name[])
  FROM (SELECT pg_catalog.unnest(grantees) AS r
        UNION SELECT pg_catalog.btrim(s) FROM pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.current_setting('ai.grant_to_default', true), ',')) AS s) AS roles
 WHERE r <> ''`,
  }),
  declareSqlFunction({
    schema: SCHEMA,
    name: 'grant_to',
    arguments: [],
    result: { kind: 'scalar', type: 'name[]' },
    strict: false,
    description: 'The roles of the setting ai.grant_to_default (pgai).',
    language: 'sql',
    volatility: 'VOLATILE',
    body: `SELECT ai.grant_to(VARIADIC ARRAY[]::name[])`,
  }),
  declareSqlFunction({
    schema: SCHEMA,
    name: 'create_vectorizer',
    arguments: [
      { name: 'source', type: 'regclass' },
      nullable('name', 'text'),
      { name: 'destination', type: 'jsonb', default: 'ai.destination_table()' },
      nullable('loading', 'jsonb'),
      { name: 'parsing', type: 'jsonb', default: 'ai.parsing_auto()' },
      nullable('embedding', 'jsonb'),
      { name: 'chunking', type: 'jsonb', default: 'ai.chunking_recursive_character_text_splitter()' },
      { name: 'indexing', type: 'jsonb', default: 'ai.indexing_default()' },
      { name: 'formatting', type: 'jsonb', default: 'ai.formatting_python_template()' },
      { name: 'scheduling', type: 'jsonb', default: 'ai.scheduling_default()' },
      { name: 'processing', type: 'jsonb', default: 'ai.processing_default()' },
      nullable('queue_schema', 'name'),
      nullable('queue_table', 'name'),
      { name: 'grant_to', type: 'name[]', default: 'ai.grant_to()' },
      { name: 'enqueue_existing', type: 'boolean', default: 'true' },
      { name: 'if_not_exists', type: 'boolean', default: 'false' },
    ],
    result: { kind: 'scalar', type: 'integer' },
    strict: false,
    description: "A vectorizer over the source table: its embedding store, view, queue and trigger; the proxy's worker keeps the store in step (pgai).",
    language: 'plpgsql',
    volatility: 'VOLATILE',
    body: BODY,
  }),
];
