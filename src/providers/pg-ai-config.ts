// pg_ai_query's configuration file (~/.pg_ai.config, seed 002), read so that its users keep the file they have.
// Sections, keys, types, ranges and defaults are the seed's "Configuration Validation Rules"; the seed does not
// list [response], whose keys here are those of pg_ai_query's own example config, nor api_endpoint, which the
// extension reads as the base URL of the provider's API. A value that breaks a rule is an error naming the file,
// the line and the key: falling back to a default would quietly call a model or a limit the user did not choose.
// Unknown sections and keys (the seed does not forbid them, and pg_ai_query skips them) are only warned about.
// [query] also takes three keys of the proxy's own (pg_ai_query skips them): allow_system_tables, allow_ddl and
// allow_dml, the rules generate_query holds the generated SQL to.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';

class Invalid extends Error {}

interface Setting<T> {
  default: T;
  /** The value of the (unquoted) text; throws Invalid saying what it must be. */
  parse(text: string): T;
}

function boolean(fallback: boolean): Setting<boolean> {
  return {
    default: fallback,
    parse(text) {
      if (text !== 'true' && text !== 'false') throw new Invalid('must be true or false');
      return text === 'true';
    },
  };
}

function integer(min: number, max: number, fallback: number): Setting<number> {
  return {
    default: fallback,
    parse(text) {
      const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!(value >= min && value <= max)) throw new Invalid(`must be an integer from ${min} to ${max}`);
      return value;
    },
  };
}

function oneOf<const T extends string>(values: readonly T[], fallback: T): Setting<T> {
  return {
    default: fallback,
    parse(text) {
      if (!values.includes(text as T)) throw new Invalid(`must be one of ${values.join(', ')}`);
      return text as T;
    },
  };
}

const text: Setting<string> = { default: '', parse: (value) => value };
/** Unset (the provider's default) when absent or empty. */
const optionalText: Setting<string | undefined> = { default: undefined, parse: (value) => value || undefined };
const optionalUrl: Setting<string | undefined> = {
  default: undefined,
  parse(value) {
    if (!value) return undefined;
    if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) throw new Invalid('must be an http:// or https:// URL');
    return value;
  },
};

const providerSection = { api_key: text, default_model: optionalText, api_endpoint: optionalUrl };

const SECTIONS = {
  general: {
    log_level: oneOf(['DEBUG', 'INFO', 'WARNING', 'ERROR'], 'INFO'),
    enable_logging: boolean(false),
    enable_postgresql_elog: boolean(true),
    request_timeout_ms: integer(1000, 300_000, 30_000),
    max_retries: integer(0, 10, 3),
  },
  query: {
    enforce_limit: boolean(true),
    default_limit: integer(1, 1_000_000, 1000),
    allow_system_tables: boolean(false),
    allow_ddl: boolean(true),
    allow_dml: boolean(true),
  },
  response: {
    show_explanation: boolean(true),
    show_warnings: boolean(true),
    show_suggested_visualization: boolean(false),
    use_formatted_response: boolean(false),
  },
  openai: providerSection,
  anthropic: providerSection,
  gemini: providerSection,
} satisfies Record<string, Record<string, Setting<unknown>>>;

type Section = keyof typeof SECTIONS;
type Values<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** The settings of one file, every key present (defaults filled in), keyed as in the file. */
export type PgAiConfig = { [S in Section]: Values<(typeof SECTIONS)[S]> } & { file: string };

export type PgAiProvider = 'openai' | 'anthropic' | 'gemini';

/** The provider sections in the order pg_ai_query tries them for a configured key. */
export const PG_AI_PROVIDERS: readonly PgAiProvider[] = ['openai', 'anthropic', 'gemini'];

export interface PgAiConfigFile {
  config: PgAiConfig;
  /** One line each for the unknown sections and keys that were ignored. */
  warnings: string[];
}

/** undefined when the file does not exist and was not asked for by name: pg_ai_query runs on defaults then too. */
export function readPgAiConfig(file: string, required: boolean): PgAiConfigFile | undefined {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the pg_ai_query config file ${file}: ${(error as Error).message}`);
  }
  return parsePgAiConfig(content, file);
}

export function parsePgAiConfig(content: string, file: string): PgAiConfigFile {
  const values = Object.fromEntries(
    Object.entries(SECTIONS).map(([name, settings]) => [name, Object.fromEntries(Object.entries(settings).map(([key, setting]) => [key, setting.default]))]),
  ) as Record<Section, Record<string, unknown>>;
  const warnings: string[] = [];
  const setOn = new Map<string, number>();
  let section: string | undefined;
  content
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const where = `${file}:${index + 1}`;
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
      const header = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(line);
      if (header) {
        section = header[1]!.trim();
        if (!Object.hasOwn(SECTIONS, section)) warnings.push(`${where}: unknown section [${section}] ignored`);
        return;
      }
      const pair = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
      if (!pair) throw new ConfigError(`${where}: expected [section] or key = value`);
      const key = pair[1]!;
      if (section === undefined) throw new ConfigError(`${where}: ${key} comes before any [section]`);
      const name = `[${section}] ${key}`;
      const value = unquote(pair[2]!, `${where}: ${name}`);
      if (!Object.hasOwn(SECTIONS, section)) return;
      const settings: Record<string, Setting<unknown>> = SECTIONS[section as Section];
      if (!Object.hasOwn(settings, key)) return void warnings.push(`${where}: unknown key ${name} ignored`);
      const earlier = setOn.get(name);
      if (earlier !== undefined) throw new ConfigError(`${where}: ${name} is set twice (also on line ${earlier})`);
      setOn.set(name, index + 1);
      try {
        values[section as Section][key] = settings[key]!.parse(value);
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        throw new ConfigError(`${where}: ${name} ${error.message}, got "${value}"`);
      }
    });
  return { config: { ...(values as Omit<PgAiConfig, 'file'>), file }, warnings };
}

/** The value of `key = …`: quoted ("…" or '…', taken as written) or bare, either followed by a # or ; comment. */
function unquote(raw: string, where: string): string {
  const quote = raw[0];
  if (quote === '"' || quote === "'") {
    const end = raw.indexOf(quote, 1);
    if (end < 0) throw new ConfigError(`${where}: the closing ${quote} is missing`);
    if (!/^\s*(?:[#;].*)?$/.test(raw.slice(end + 1))) throw new ConfigError(`${where}: only a comment may follow the closing ${quote}`);
    return raw.slice(1, end);
  }
  const comment = /(?:^|\s)[#;]/.exec(raw);
  return (comment ? raw.slice(0, comment.index) : raw).trim();
}
