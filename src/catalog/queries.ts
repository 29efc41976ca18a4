// Text-to-SQL history (_pg_llm_catalog.pg_llm_queries): each question with the SQL that answered it, and the earlier
// pairs most like a new question, shown to the model as examples. A role sees only its own pairs, since another
// role's SQL could name tables this one cannot read. Likeness is lexical for now (the Jaccard index of the two
// questions' word sets); the table's embedding column is left for a vector search to fill.

import type { CallContext } from '../../functions/declaration.js';
import { wordsOf } from '../sql/words.js';

export interface SimilarQuery {
  question: string;
  sql: string;
  similarity: number;
}

/** The most recent pairs compared with a new question. */
const CANDIDATES = 500;
/** Below this, a pair shares too little with the question to help. */
const MIN_SIMILARITY = 0.2;

export async function saveQuery(context: CallContext, instanceName: string, question: string, sql: string): Promise<void> {
  await context.query(`INSERT INTO _pg_llm_catalog.pg_llm_queries (request_id, instance_name, question, sql) VALUES ($1, $2, $3, $4)`, [
    context.requestId,
    instanceName,
    question,
    sql,
  ]);
}

export async function similarQueries(context: CallContext, question: string, limit: number): Promise<SimilarQuery[]> {
  const words = wordsOf(question);
  if (words.size === 0 || limit === 0) return [];
  const rows = await context.query(
    `SELECT question, sql FROM _pg_llm_catalog.pg_llm_queries WHERE role_name OPERATOR(pg_catalog.=) current_user ORDER BY id DESC LIMIT ${CANDIDATES}`,
  );
  const seen = new Set<string>();
  return rows
    .map((row) => ({ question: row.question!, sql: row.sql!, similarity: jaccard(words, wordsOf(row.question!)) }))
    .filter((pair) => pair.similarity >= MIN_SIMILARITY && !seen.has(pair.question) && seen.add(pair.question))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, limit)
    .map((pair) => ({ ...pair, similarity: Math.round(pair.similarity * 1000) / 1000 }));
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let shared = 0;
  for (const word of a) if (b.has(word)) shared++;
  return shared / (a.size + b.size - shared);
}
