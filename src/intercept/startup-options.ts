// The settings a startup packet's `options` parameter gives, read as PostgreSQL reads them: pg_split_opts splits the
// text at whitespace (a backslash keeps the next character, whitespace included), then process_postgres_switches
// reads the words with getopt, whose flags without an argument may be combined in one word and whose flag with one
// takes the rest of the word or else the next word: -nc name=value and -ecname=value set a setting as -c does, and
// -n-name=value as --name=value does. Each setting's name is taken by ParseLongOption, which turns every dash of the
// name into an underscore (-c ai.openai-base-url=… sets ai.openai_base_url). Setting names are case-insensitive,
// in ASCII letters only (setting-case.ts).

import { settingCase } from '../sql/setting-case.js';

/**
 * What pg_split_opts splits at: the server's isspace(), over bytes. A UTF-8 character is never one of these, where
 * JavaScript's \s takes in U+00A0 and U+3000 too, which the server would read as part of a word (review R3).
 */
const SPACE = /[ \t\n\v\f\r]/;

/**
 * Bytes a server whose LC_CTYPE is a single-byte locale (LATIN1, WIN1252) may take for spaces too: in UTF-8 they
 * are parts of characters (U+00A0 is C2 A0, à is C3 A0), so options holding them may split otherwise there.
 */
export function splitsByLocale(options: string): boolean {
  return Buffer.from(options, 'utf8').some((byte) => byte === 0x85 || byte === 0xa0);
}

/** The options text split into words as pg_split_opts does. */
function optionWords(options: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let escaped = false;
  for (const character of options) {
    if (!escaped && SPACE.test(character)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (!escaped && character === '\\') {
      escaped = true;
      word ??= '';
    } else {
      escaped = false;
      word = (word ?? '') + character;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** A setting the options give: its name (lower case, underscores for dashes), its value, and where the value is. */
interface OptionSetting {
  name: string;
  value: string;
  /** The word the value ends, and where in that word it starts. */
  word: number;
  from: number;
}

// The server's getopt option string (postgres.c): a letter followed by a colon takes an argument.
const SWITCHES = 'B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:';

function optionSettings(words: string[]): OptionSetting[] {
  const settings: OptionSetting[] = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    // getopt stops at --, and steps over (glibc) or stops at a word that is no flag: reading on finds what either reads.
    if (word === '--') break;
    if (!word.startsWith('-') || word === '-') continue;
    for (let at = 1; at < word.length; at++) {
      const flag = word[at]!;
      const position = flag === ':' ? -1 : SWITCHES.indexOf(flag);
      // A flag the server does not know ends its reading with an error; read as one without argument it finds more.
      if (position < 0 || SWITCHES[position + 1] !== ':') continue;
      // The argument: the rest of this word, or else the whole next word, whatever it starts with.
      let from = at + 1;
      if (from === word.length) {
        index++;
        from = 0;
      }
      const argument = words[index]?.slice(from);
      const equals = argument?.indexOf('=') ?? -1;
      if ((flag === 'c' || flag === '-') && equals > 0) {
        settings.push({ name: settingCase(argument!.slice(0, equals).replace(/-/g, '_')), value: argument!.slice(equals + 1), word: index, from: from + equals + 1 });
      }
      break;
    }
  }
  return settings;
}

/** Each setting the options give, [name in lower case with underscores for dashes, value], in order. */
export function startupSettings(options: string): Array<[name: string, value: string]> {
  return optionSettings(optionWords(options)).map(({ name, value }) => [name, value]);
}

/**
 * The options with the value of each setting `replacement` gives a value for (it is handed the name as startupSettings
 * gives it) replaced, and undefined when it gives none: the server reads the rest as the client wrote it.
 */
export function withSettingsReplaced(options: string, replacement: (name: string, value: string) => string | undefined): string | undefined {
  const words = optionWords(options);
  let replaced = false;
  for (const { name, value, word, from } of optionSettings(words)) {
    const text = replacement(name, value);
    if (text === undefined) continue;
    words[word] = words[word]!.slice(0, from) + text;
    replaced = true;
  }
  // Each word escaped as pg_split_opts reads it back: a backslash before each backslash and whitespace.
  return replaced ? words.map((word) => word.replace(/[\\\s]/g, '\\$&')).join(' ') : undefined;
}
