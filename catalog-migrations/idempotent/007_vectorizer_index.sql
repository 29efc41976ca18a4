-- The vector index of a vectorizer's embeddings, as pgai's scheduled job made it (_vectorizer_should_create_vector_index
-- and _vectorizer_create_vector_index): with an indexing_hnsw or indexing_diskann config, once the queue is empty
-- (unless create_when_queue_empty is false) and the embeddings number min_rows, on the store's embedding column or the
-- source's embedding column (ai.destination_column), if no index of that kind is there yet. The proxy's worker calls it
-- when it has emptied a vectorizer's queue, connected as the vectorizer's owner; it builds on the owner's own table only,
-- and only for the owner: its counts plan queries of the owner's tables, and planning runs code of theirs (an immutable
-- call of an index expression), which must not run as another caller who sees the vectorizer (an admin, a superuser).
-- True when it built the index.

CREATE OR REPLACE FUNCTION _pg_llm_catalog.vectorizer_index(vectorizer_id integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  _v record;
  _indexing jsonb;
  _method text;
  _relation regclass;
  _column name;
  _count bigint;
  _with text;
  _vector_schema name;
BEGIN
  SELECT v.* INTO _v FROM _pg_llm_catalog.pg_llm_vectorizers v WHERE v.id = vectorizer_id;
  IF _v.owner IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
    RETURN false;
  END IF;
  _indexing := _v.config -> 'indexing';
  _method := _indexing ->> 'implementation';
  IF _method IS NULL OR _method NOT IN ('hnsw', 'diskann') THEN
    RETURN false;
  END IF;
  IF _v.config -> 'destination' ->> 'implementation' = 'column' THEN
    _relation := pg_catalog.to_regclass(pg_catalog.format('%I.%I', _v.source_schema, _v.source_table));
    _column := _v.config -> 'destination' ->> 'embedding_column';
  ELSE
    _relation := pg_catalog.to_regclass(pg_catalog.format('%I.%I', _v.config -> 'destination' ->> 'target_schema', _v.config -> 'destination' ->> 'target_table'));
    _column := 'embedding';
  END IF;
  IF _relation IS NULL OR (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = _relation) <> _v.owner THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid
               JOIN pg_catalog.pg_am am ON am.oid = x.relam
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = _relation AND a.attname = _column AND am.amname = _method) THEN
    RETURN false;
  END IF;
  IF coalesce((_indexing ->> 'create_when_queue_empty')::boolean, true) THEN
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT FROM %I.%I LIMIT 1) q', _v.queue_schema, _v.queue_table) INTO _count;
    IF _count > 0 THEN
      RETURN false;
    END IF;
  END IF;
  EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT FROM %s WHERE %I IS NOT NULL LIMIT %s) e', _relation, _column, coalesce((_indexing ->> 'min_rows')::bigint, 0))
    INTO _count;
  IF _count < coalesce((_indexing ->> 'min_rows')::bigint, 0) THEN
    RETURN false;
  END IF;
  -- One builder at a time (pgai's lock keys): another worker that finds it taken leaves the index to the first.
  IF NOT pg_catalog.pg_try_advisory_xact_lock(1982010642, _relation::oid::integer) THEN
    RETURN false;
  END IF;
  IF _method = 'hnsw' THEN
    SELECT n.nspname INTO _vector_schema FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'vector';
    SELECT pg_catalog.string_agg(pg_catalog.format('%s = %s', w.key, (w.value)::integer), ', ') INTO _with
      FROM pg_catalog.jsonb_each_text(_indexing) w WHERE w.key IN ('m', 'ef_construction');
    EXECUTE pg_catalog.format('CREATE INDEX ON %s USING hnsw (%I %I.%I)%s', _relation, _column, _vector_schema, coalesce(_indexing ->> 'opclass', 'vector_cosine_ops'),
      CASE WHEN _with IS NOT NULL THEN pg_catalog.format(' WITH (%s)', _with) ELSE '' END);
  ELSE
    SELECT pg_catalog.string_agg(CASE w.key WHEN 'storage_layout' THEN pg_catalog.format('%s = %L', w.key, w.value)
                                            WHEN 'max_alpha' THEN pg_catalog.format('%s = %s', w.key, (w.value)::float8)
                                            ELSE pg_catalog.format('%s = %s', w.key, (w.value)::integer) END, ', ') INTO _with
      FROM pg_catalog.jsonb_each_text(_indexing) w
     WHERE w.key IN ('storage_layout', 'num_neighbors', 'search_list_size', 'max_alpha', 'num_dimensions', 'num_bits_per_dimension');
    EXECUTE pg_catalog.format('CREATE INDEX ON %s USING diskann (%I)%s', _relation, _column,
      CASE WHEN _with IS NOT NULL THEN pg_catalog.format(' WITH (%s)', _with) ELSE '' END);
  END IF;
  RETURN true;
END
$$;
