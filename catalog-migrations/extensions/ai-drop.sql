-- DROP EXTENSION ai takes the views of extensions/ai.sql first: they use the functions it drops next.
DROP VIEW IF EXISTS ai.vectorizer_status;
DROP VIEW IF EXISTS ai.vectorizer_errors;
DROP VIEW IF EXISTS ai.vectorizer;
