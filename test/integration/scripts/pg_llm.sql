-- A pg_llm v1.1 session as a script written for the extension runs it: mock models, chat, routing, sessions,
-- feedback, audit and trace, knowledge and vectors, text-to-SQL and reports. Run by psql through the proxy; its output must match pg_llm.out line by line.
CREATE EXTENSION pg_llm;
SELECT pg_llm_add_model(false, 'mock', 'primary', NULL, '{"mock_response": "Paris is the capital of France.", "mock_confidence": 0.92}');
SELECT pg_llm_add_model(false, 'mock', 'weak', NULL, '{"mock_response": "Not sure.", "mock_confidence": 0.2, "fallback_instance": "local"}');
SELECT pg_llm_add_model(true, 'mock', 'local', NULL, '{"mock_response": "Local answer.", "mock_confidence": 0.7, "is_local_fallback": true}');
SELECT pg_llm_chat('primary', 'What is the capital of France?');
SELECT j->>'response', j->>'model_name', j->>'confidence_score', j->>'fallback_used' FROM pg_llm_chat_json('primary', 'Capital?') AS j;
SELECT seq_no, chunk, is_final, confidence_score FROM pg_llm_chat_stream('primary', 'Capital?');
SELECT pg_llm_chat('weak', 'Capital?');
SELECT pg_llm_parallel_chat('Capital?', ARRAY['primary', 'weak']);
SELECT j->>'response', j->>'instance_name', j->>'fallback_used' FROM pg_llm_parallel_chat_json('Capital?', ARRAY['weak']) AS j;
SELECT pg_llm_create_session(4) AS sid \gset
SELECT pg_llm_multi_turn_chat('primary', :'sid', 'Hello');
SELECT pg_llm_multi_turn_chat('primary', :'sid', 'And again?');
SELECT role, content FROM pg_llm_get_session_messages(:'sid');
SELECT pg_llm_update_session_state(:'sid', '{"step": 2}');
SELECT pg_llm_get_session(:'sid')->'state', pg_llm_get_session(:'sid')->'message_count';
SELECT message_count, max_messages FROM pg_llm_get_sessions();
SET pg_llm.trace_enabled = on;
SELECT pg_llm_chat_json('weak', 'Capital?')->>'request_id' AS rid \gset
SELECT e->>'step', e->'detail'->>'decision', e->'detail'->>'fallback_instance' FROM jsonb_array_elements(pg_llm_get_trace(:'rid')->'events') AS e;
SELECT pg_llm_record_feedback(:'rid', 5, 'good answer') > 0;
SELECT event_type, instance_name, success, metadata->>'fallback_used' FROM pg_llm_get_audit_log('{"limit": 3}');
SELECT pg_llm_add_knowledge('handbook', 'PostgreSQL is a relational database. VACUUM reclaims the space of dead rows.', '{"team": "db"}') > 0;
SELECT pg_llm_add_knowledge('menu', 'Our cafe serves espresso, tea and croissants every morning.') > 0;
SELECT source_name, chunk_index, metadata FROM pg_llm_search_knowledge('how does vacuum reclaim space', '{"limit": 1}');
SELECT array_length(pg_llm_get_embedding('primary', 'hello world')::real[], 1);
SELECT pg_llm_store_vector('docs', 'body', 7, pg_llm_get_embedding('primary', 'hello world')) > 0;
SELECT table_name, column_name, row_id, round(similarity::numeric, 3) FROM pg_llm_search_vectors(pg_llm_get_embedding('primary', 'hello world'), 5, 0.5);
CREATE TABLE cities (name text PRIMARY KEY, country text NOT NULL, population integer);
INSERT INTO cities VALUES ('Paris', 'France', 2100000), ('Lyon', 'France', 520000), ('Rome', 'Italy', 2800000);
SELECT pg_llm_add_model(false, 'mock', 'sql', NULL, '{"mock_response": "```sql\nSELECT name, population FROM cities ORDER BY population DESC\n```"}');
SELECT pg_llm_text2sql('sql', 'Which cities are the largest?');
SELECT j->>'sql', jsonb_array_length(j->'execution'->'rows'), j->'execution'->'rows'->0->>'name' FROM pg_llm_text2sql_json('sql', 'Which cities are the largest?') AS j;
SELECT r->'vega_lite'->>'mark', jsonb_array_length(r->'result'->'rows') FROM pg_llm_generate_report('sql', 'SELECT country, count(*) AS cities FROM cities GROUP BY country ORDER BY country') AS r;
SELECT pg_llm_delete_session(:'sid');
SELECT pg_llm_remove_model('weak');
DROP EXTENSION pg_llm CASCADE;
