// The SQL in a model's answer, however the model chose to write it: the JSON object it was asked for
// ({"sql": …, "explanation": …, "warnings": […]}), a markdown code block, or a statement with prose around it.
// Whatever is found is then checked by statement.ts; this only finds it.

import { parseSync } from './parser.js';
import { PgError } from '../../proxy/pg-error.js';
import { EVENT_LOOP_JSON, exceededJsonLimit } from '../json-structure.js';
import { fencesIn, type Fence } from './fences.js';
import { INLINE_PARSE_BYTES, parseTask, runInParserThread } from './parse-task.js';

export interface ModelSql {
  sql: string;
  explanation?: string;
  warnings: string[];
  /** What the model suggests showing the result as (bar, line, table…), when it says. */
  visualization?: string;
}

const SQL_FENCE_LANGUAGES = new Set(['', 'sql', 'postgres', 'postgresql', 'pgsql', 'psql']);
/** Where a statement can start in prose. */
const STATEMENT_START = /\b(?:WITH|SELECT|VALUES|TABLE|INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|GRANT|REVOKE|COMMENT|EXPLAIN|BEGIN|COMMIT|SET|COPY|DO|CALL)\b/gi;
/** Bounds on the parses tried before giving up on an answer of prose. */
const MAX_STARTS = 20;
const MAX_ENDS = 100;
const MAX_STATEMENT_CHARS = 16_000;
/**
 * Text handed to the parser while looking for a statement in prose. The answer is the model's, so any role's server
 * can make it the worst case: on the event loop a search stops at what parses in about 25 ms, and one that needs
 * more goes on in the parser's thread.
 */
const THREAD_PARSE_BUDGET = 4 * 1024 * 1024;
/**
 * Characters of an answer searched for SQL. A provider may send up to --max-response-bytes (128 MiB by default);
 * no query a model writes for a person is near 1 MB, and every pass below is linear in what it is given.
 */
export const MAX_SEARCHED_CHARS = 1_000_000;

export async function sqlFromAnswer(answer: string): Promise<ModelSql> {
  const searched = answer.length > MAX_SEARCHED_CHARS ? answer.slice(0, MAX_SEARCHED_CHARS) : answer;
  const fences = fencesIn(searched);
  const json = jsonAnswer(searched, fences);
  if (json) return json;
  const fenced = fences.find((fence) => SQL_FENCE_LANGUAGES.has(fence.language.toLowerCase()));
  if (fenced) {
    const prose = `${searched.slice(0, fenced.start)} ${searched.slice(fenced.end)}`.replace(/\s+/g, ' ').trim();
    return { sql: fenced.body.trim(), warnings: [], ...(prose ? { explanation: prose } : {}) };
  }
  let sql = statementInProse(searched, INLINE_PARSE_BYTES);
  if (sql === OVER_BUDGET) sql = await runInParserThread(STATEMENT_IN_PROSE, searched);
  if (sql === undefined || sql === OVER_BUDGET) {
    throw new PgError('42601', "the model's answer holds no SQL statement", {
      detail: answer.length > 300 ? `${answer.slice(0, 300)}…` : answer,
      hint: 'Rephrase the request, or try another model.',
    });
  }
  return { sql, warnings: [] };
}

/** The JSON object the prompt asks for, bare or in a ```json block; an empty "sql" is the model declining. */
function jsonAnswer(answer: string, fences: Fence[]): ModelSql | undefined {
  const candidates = [answer.trim(), ...fences.filter((fence) => fence.language.toLowerCase() === 'json').map((fence) => fence.body.trim())];
  for (const candidate of candidates) {
    // Past the bounds of JSON parsed on the event loop it is not the small object asked for, and is read as text.
    if (!candidate.startsWith('{') || exceededJsonLimit(candidate, EVENT_LOOP_JSON) !== undefined) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(candidate);
    } catch {
      continue;
    }
    const object = parsed as Record<string, unknown>;
    if (typeof object?.sql !== 'string') continue;
    const explanation = typeof object.explanation === 'string' && object.explanation.trim() ? object.explanation.trim() : undefined;
    if (!object.sql.trim()) {
      throw new PgError('22023', 'the model could not write SQL for this request', {
        ...(explanation ? { detail: explanation } : {}),
        hint: 'Name the tables and columns the request is about, or check that the current role can read them.',
      });
    }
    const warnings = ([] as unknown[]).concat(object.warnings ?? []).filter((warning): warning is string => typeof warning === 'string' && warning.trim() !== '');
    const visualization = typeof object.suggested_visualization === 'string' ? object.suggested_visualization : undefined;
    return { sql: object.sql.trim(), warnings, ...(explanation ? { explanation } : {}), ...(visualization ? { visualization } : {}) };
  }
  return undefined;
}

const OVER_BUDGET = null;

/**
 * A statement written into prose: from a keyword that can start one, the longest stretch ending at a line end or a
 * semicolon that PostgreSQL's parser accepts (so the prose after it is left out); the first start that gives one
 * wins. Two statements in a row stay together, for the check to refuse. OVER_BUDGET when finding out would parse
 * more than `budget` characters.
 */
function statementInProse(answer: string, budget: number): string | undefined | typeof OVER_BUDGET {
  const starts = answer.matchAll(STATEMENT_START);
  // Taken one at a time: an answer of keywords would otherwise make a match object for every one of them.
  for (let tried = 0; tried < MAX_STARTS; tried++) {
    const { value: start, done } = starts.next();
    if (done) break;
    const text = answer.slice(start.index, start.index + MAX_STATEMENT_CHARS);
    const ends = [text.length, ...[...text.matchAll(/\n|;/g)].map((match) => match.index + (match[0] === ';' ? 1 : 0))];
    const longestFirst = [...new Set(ends)].sort((a, b) => b - a).slice(0, MAX_ENDS);
    for (const end of longestFirst) {
      const candidate = text.slice(0, end).trim();
      budget -= candidate.length;
      if (budget < 0) return OVER_BUDGET;
      if (parses(candidate)) return candidate;
    }
  }
  return undefined;
}

/** The search as the parser's thread runs it, with a budget no answer within the size cap normally reaches. */
export function statementInProseInThread(answer: string): string | undefined | typeof OVER_BUDGET {
  return statementInProse(answer, THREAD_PARSE_BUDGET);
}

const STATEMENT_IN_PROSE = parseTask(import.meta.url, 'statementInProseInThread', statementInProseInThread);

function parses(sql: string): boolean {
  try {
    return (parseSync(sql).stmts?.length ?? 0) > 0;
  } catch {
    return false;
  }
}
