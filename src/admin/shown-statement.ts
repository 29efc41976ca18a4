// A client's statement as the admin dashboard shows it: its shape, never its values. Every literal (quoted,
// E'…', dollar-quoted), every comment and the value of every SET of a dotted setting (pg_llm.master_key, ai.*_api_key,
// which may be written unquoted) or of one whose name is quoted ("pg_llm.master_key", U&"pg_llm\002emaster_key") become …, and what is left goes through the redaction of audit rows (API keys,
// bearer tokens, key=value credentials). A literal the kept head cuts in two is hidden to the end, as one that never
// closes; so is one holding a backslash outside E'…', whose end depends on standard_conforming_strings, which the
// proxy does not follow. Literals are what carry keys (pg_llm_add_model(…, 'sk-…')), and pg_stat_statements shows
// statements so too.

import { maskSecrets } from '../catalog/redaction.js';

const SHOWN_CHARACTERS = 300;
const HIDDEN = '…';
/** A part of a setting's name: a word, or quoted (U&"…" too). */
const NAME_PART = String.raw`(?:(?:U&)?"(?:[^"]|"")*"|[^\s".=;]+)`;
/** A quoted name, whose dots (or escapes spelling one) may be inside the quotes. */
const QUOTED_NAME = String.raw`(?:U&)?"(?:[^"]|"")*"`;
/**
 * A SET (or ALTER … SET) of a setting with a dot in its name, or a quoted name, up to the statement's end: a value
 * written as a quoted identifier ends at its closing quote, past any ; in it (review P), or at the head's end.
 */
const SET_OF_DOTTED = new RegExp(String.raw`\b(SET\s+(?:SESSION\s+|LOCAL\s+)?(?:${NAME_PART}(?:\s*\.\s*${NAME_PART})+|${QUOTED_NAME})\s*(?:=|\bTO\b)\s*)(?:"(?:[^"]|"")*(?:"|$)|[^;"])*`, 'gi');
const IDENTIFIER_CHARACTER = /[\w$\u0080-\uffff]/;
/** A dollar quote's opening tag at lastIndex; PostgreSQL sets no limit on its length. */
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y;

/** PostgreSQL keeps at most NAMEDATALEN - 1 bytes of a name; a client may send more before it is authenticated. */
const SHOWN_NAME_CHARACTERS = 63;
/** Control and bidirectional-override characters, which would make one name look like another on the page. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}]/gu;

/** A name a client chose (user, database, application_name), as the page shows it: printable, and short. */
export function shownName(name: string): string {
  return [...name.replace(UNPRINTABLE, '')].slice(0, SHOWN_NAME_CHARACTERS).join('');
}

export function shownStatement(head: string, whole: boolean): string {
  const shape = withoutLiterals(head).replace(SET_OF_DOTTED, `$1${HIDDEN}`);
  const text = maskSecrets(shape).replace(/\s+/g, ' ').trim();
  const characters = [...text];
  if (characters.length > SHOWN_CHARACTERS) return `${characters.slice(0, SHOWN_CHARACTERS).join('')}${HIDDEN}`;
  return whole ? text : `${text}${HIDDEN}`;
}

/** The text with each literal replaced by '…' and each comment by a space; quoted identifiers are kept. */
function withoutLiterals(sql: string): string {
  let shown = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i, i + 2);
    const before = sql[i - 1] ?? ' ';
    let end: number;
    if (rest === '--') {
      end = lineEnd(sql, i);
      shown += ' ';
    } else if (rest === '/*') {
      end = commentEnd(sql, i);
      shown += ' ';
    } else if (sql[i] === "'") {
      const escapes = /[eE]/.test(before) && !IDENTIFIER_CHARACTER.test(sql[i - 2] ?? ' ');
      end = quotedEnd(sql, i, "'", escapes);
      if (!escapes && sql.slice(i, end).includes('\\')) end = sql.length;
      shown += `'${HIDDEN}'`;
    } else if (sql[i] === '"') {
      end = quotedEnd(sql, i, '"', false);
      shown += sql.slice(i, end);
    } else if (sql[i] === '$' && !IDENTIFIER_CHARACTER.test(before) && dollarTagAt(sql, i) !== undefined) {
      const tag = dollarTagAt(sql, i)!;
      const close = sql.indexOf(tag, i + tag.length);
      end = close < 0 ? sql.length : close + tag.length;
      shown += `'${HIDDEN}'`;
    } else {
      end = i + 1;
      shown += sql[i];
    }
    i = end;
  }
  return shown;
}

function dollarTagAt(sql: string, start: number): string | undefined {
  DOLLAR_TAG.lastIndex = start;
  return DOLLAR_TAG.exec(sql)?.[0];
}

function lineEnd(sql: string, start: number): number {
  const end = sql.indexOf('\n', start);
  return end < 0 ? sql.length : end;
}

/** Past the end of the block comment at `start`; PostgreSQL's block comments nest. */
function commentEnd(sql: string, start: number): number {
  let depth = 0;
  for (let i = start; i < sql.length - 1; i++) {
    const pair = sql.slice(i, i + 2);
    if (pair === '/*') depth++;
    else if (pair === '*/' && --depth === 0) return i + 2;
    if (pair === '/*' || pair === '*/') i++;
  }
  return sql.length;
}

/** Past the quote that closes the one at `start` (a doubled quote is one inside; with `backslashes`, \' too). */
function quotedEnd(sql: string, start: number, quote: string, backslashes: boolean): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (backslashes && sql[i] === '\\') i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  return sql.length;
}
