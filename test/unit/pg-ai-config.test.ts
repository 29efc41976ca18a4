import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { parsePgAiConfig, readPgAiConfig } from '../../src/providers/pg-ai-config.js';

const FILE = '/home/u/.pg_ai.config';

function parse(...lines: string[]) {
  return parsePgAiConfig(lines.join('\n'), FILE);
}

function refused(lines: string[]): string {
  try {
    parse(...lines);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted: ${lines.join(' | ')}`);
}

describe("pg_ai_query's config file", () => {
  it("has seed 002's defaults for every key of an empty file", () => {
    expect(parse('')).toEqual({
      config: {
        file: FILE,
        general: { log_level: 'INFO', enable_logging: false, enable_postgresql_elog: true, request_timeout_ms: 30000, max_retries: 3 },
        query: { enforce_limit: true, default_limit: 1000, allow_system_tables: false, allow_ddl: true, allow_dml: true },
        response: { show_explanation: true, show_warnings: true, show_suggested_visualization: false, use_formatted_response: false },
        openai: { api_key: '', default_model: undefined, api_endpoint: undefined },
        anthropic: { api_key: '', default_model: undefined, api_endpoint: undefined },
        gemini: { api_key: '', default_model: undefined, api_endpoint: undefined },
      },
      warnings: [],
    });
  });

  it('reads quoted and bare values, comments of both kinds, and Windows line ends', () => {
    const { config, warnings } = parsePgAiConfig(
      [
        '# PG AI Query Configuration File',
        '; another comment',
        '[general]',
        'log_level = "DEBUG"  # Show all log messages',
        'enable_logging=true',
        '  enable_postgresql_elog = false ; trailing',
        'request_timeout_ms = 45000  # 45 second timeout',
        "max_retries = '0'",
        '',
        '[query]  # limits',
        'enforce_limit = false',
        'default_limit = 1000000',
        'allow_ddl = false',
        '[response]',
        'use_formatted_response = true',
        'show_warnings = false',
        '[openai]',
        'api_key = "sk-proj-a#b;c = d"',
        'default_model = gpt-4o',
        'api_endpoint = "https://llm.example.com"',
        '[anthropic]',
        'api_key = sk-ant-with#hash',
        '[gemini]',
        'default_model = ""',
      ].join('\r\n'),
      FILE,
    );
    expect(warnings).toEqual([]);
    expect(config.general).toEqual({ log_level: 'DEBUG', enable_logging: true, enable_postgresql_elog: false, request_timeout_ms: 45000, max_retries: 0 });
    expect(config.query).toEqual({ enforce_limit: false, default_limit: 1000000, allow_system_tables: false, allow_ddl: false, allow_dml: true });
    expect(config.response).toEqual({ show_explanation: true, show_warnings: false, show_suggested_visualization: false, use_formatted_response: true });
    expect(config.openai).toEqual({ api_key: 'sk-proj-a#b;c = d', default_model: 'gpt-4o', api_endpoint: 'https://llm.example.com' });
    expect(config.anthropic.api_key).toBe('sk-ant-with#hash');
    expect(config.gemini.default_model).toBeUndefined();
  });

  it.each([
    // out of range
    ['general', 'request_timeout_ms', '999', 'must be an integer from 1000 to 300000'],
    ['general', 'request_timeout_ms', '300001', 'must be an integer from 1000 to 300000'],
    ['general', 'max_retries', '11', 'must be an integer from 0 to 10'],
    ['general', 'max_retries', '-1', 'must be an integer from 0 to 10'],
    ['query', 'default_limit', '0', 'must be an integer from 1 to 1000000'],
    ['query', 'default_limit', '1000001', 'must be an integer from 1 to 1000000'],
    // wrong type
    ['general', 'request_timeout_ms', '30s', 'must be an integer from 1000 to 300000'],
    ['general', 'max_retries', '2.5', 'must be an integer from 0 to 10'],
    ['general', 'max_retries', '', 'must be an integer from 0 to 10'],
    ['general', 'enable_logging', 'yes', 'must be true or false'],
    ['general', 'enable_postgresql_elog', 'TRUE', 'must be true or false'],
    ['query', 'enforce_limit', '1', 'must be true or false'],
    ['query', 'allow_dml', 'yes', 'must be true or false'],
    ['response', 'show_explanation', 'on', 'must be true or false'],
    ['general', 'log_level', 'VERBOSE', 'must be one of DEBUG, INFO, WARNING, ERROR'],
    ['general', 'log_level', 'info', 'must be one of DEBUG, INFO, WARNING, ERROR'],
    ['openai', 'api_endpoint', 'api.openai.com', 'must be an http:// or https:// URL'],
    ['anthropic', 'api_endpoint', 'ftp://example.com', 'must be an http:// or https:// URL'],
  ])('refuses [%s] %s = %j, naming the file, the line and the rule', (section, key, value, rule) => {
    expect(refused(['# settings', `[${section}]`, `${key} = ${value}`])).toBe(`${FILE}:3: [${section}] ${key} ${rule}, got "${value}"`);
  });

  it('takes the ends of each range', () => {
    const { config } = parse('[general]', 'request_timeout_ms = 1000', 'max_retries = 10', '[query]', 'default_limit = 1');
    expect([config.general.request_timeout_ms, config.general.max_retries, config.query.default_limit]).toEqual([1000, 10, 1]);
    expect(parse('[general]', 'request_timeout_ms = 300000', 'max_retries = 0').config.general).toMatchObject({ request_timeout_ms: 300000, max_retries: 0 });
  });

  it('names the line of a syntax error', () => {
    expect(refused(['[general]', 'max_retries = 3', 'just some words'])).toBe(`${FILE}:3: expected [section] or key = value`);
    expect(refused(['[general', 'max_retries = 3'])).toBe(`${FILE}:1: expected [section] or key = value`);
    expect(refused(['', 'api key = x'])).toBe(`${FILE}:2: expected [section] or key = value`);
    expect(refused(['max_retries = 3'])).toBe(`${FILE}:1: max_retries comes before any [section]`);
    expect(refused(['[openai]', 'api_key = "sk-unterminated'])).toBe(`${FILE}:2: [openai] api_key: the closing " is missing`);
    expect(refused(['[openai]', `default_model = 'gpt-4o' extra`])).toBe(`${FILE}:2: [openai] default_model: only a comment may follow the closing '`);
    expect(refused(['[query]', 'default_limit = 5', '', 'default_limit = 6'])).toBe(`${FILE}:4: [query] default_limit is set twice (also on line 2)`);
  });

  it('never shows an api_key in an error', () => {
    expect(refused(['[openai]', 'api_key = "sk-secret-123'])).not.toContain('sk-secret');
  });

  it('warns about unknown sections and keys, and reads the rest', () => {
    const { config, warnings } = parse('[general]', 'colour = blue', 'max_retries = 5', '[openai]', 'temperature = 0.2', '[mistral]', 'api_key = x', 'whatever = "still checked"');
    expect(warnings).toEqual([`${FILE}:2: unknown key [general] colour ignored`, `${FILE}:5: unknown key [openai] temperature ignored`, `${FILE}:6: unknown section [mistral] ignored`]);
    expect(config.general.max_retries).toBe(5);
    expect(refused(['[mistral]', 'api_key = "open'])).toMatch(/:2: \[mistral\] api_key: the closing " is missing/);
  });

  it('reads a file; a missing one is no error unless it was named', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-ai-config-'));
    const file = path.join(dir, '.pg_ai.config');
    expect(readPgAiConfig(file, false)).toBeUndefined();
    expect(() => readPgAiConfig(file, true)).toThrowError(ConfigError);
    expect(() => readPgAiConfig(file, true)).toThrowError(`cannot read the pg_ai_query config file ${file}`);
    writeFileSync(file, '[query]\ndefault_limit = 50\n');
    expect(readPgAiConfig(file, false)?.config.query.default_limit).toBe(50);
  });
});
