import { describe, expect, it } from 'vitest';
import { startupSettings, withSettingsReplaced } from '../../src/intercept/startup-options.js';

describe('startupSettings', () => {
  it("reads each of -c's forms and --name=value, names with dashes read as the server reads them", () => {
    expect(startupSettings('-c ai.openai-base-url=http://a  -cAI.Ollama_Host=http://b --ai.cohere-base-url=http://c -B 100 -c work_mem=4MB')).toEqual([
      ['ai.openai_base_url', 'http://a'],
      ['ai.ollama_host', 'http://b'],
      ['ai.cohere_base_url', 'http://c'],
      ['work_mem', '4MB'],
    ]);
    // Split at ASCII spaces only, as the server splits: U+3000 is part of -D's argument (review R3).
    expect(startupSettings('-D\u3000 -c ai.openai_api_key=sk-a')).toEqual([['ai.openai_api_key', 'sk-a']]);
    // Folded in ASCII letters only, as the server folds them: a Kelvin sign is not a k there.
    expect(startupSettings('-c ai.anthropic_api_\u212Aey=sk-a')).toEqual([['ai.anthropic_api_\u212Aey', 'sk-a']]);
  });

  it('keeps what a backslash escapes, whitespace included, and leaves dashes of values alone', () => {
    expect(startupSettings('-c application_name=a\\ b\\\\c -c search_path=my-schema')).toEqual([
      ['application_name', 'a b\\c'],
      ['search_path', 'my-schema'],
    ]);
  });

  it('reads -c and -- after flags combined with them in one word, as getopt does', () => {
    expect(startupSettings('-nc ai.openai_api_key=sk-a -ecai.openai-api-key=sk-b -n-ai.openai-api-key=sk-c -eFnc\\ x.y=z')).toEqual([
      ['ai.openai_api_key', 'sk-a'],
      ['ai.openai_api_key', 'sk-b'],
      ['ai.openai_api_key', 'sk-c'],
      [' x.y', 'z'],
    ]);
  });

  it("reads a flag's argument as the server does: no setting in it, and none after a lone --", () => {
    // -h takes the next word whole, -d the rest of its word; -c takes the next word even when it starts with a dash.
    expect(startupSettings('-h -cai.openai_api_key=sk-a -dc -c -n=1 -- -c ai.openai_api_key=sk-b')).toEqual([['_n', '1']]);
  });

  it('skips words that set nothing', () => {
    expect(startupSettings('-e --=y -c')).toEqual([]);
  });
});

describe('withSettingsReplaced', () => {
  it('replaces the values it is given one for, in each form, and escapes each word so the server reads them back', () => {
    const options = '-c ai.openai-api-key=sk-a -cAI.Team_Key=sk-b --ai.x-key=sk-c -B 100 -c application_name=a\\ b';
    const replaced = withSettingsReplaced(options, (name, value) => (name.startsWith('ai.') ? `held ${value}\\` : undefined))!;
    expect(startupSettings(replaced)).toEqual([
      ['ai.openai_api_key', 'held sk-a\\'],
      ['ai.team_key', 'held sk-b\\'],
      ['ai.x_key', 'held sk-c\\'],
      ['application_name', 'a b'],
    ]);
    expect(replaced).toContain('-B 100');
  });

  it('replaces values set by combined flags, leaving the flags before them as they were', () => {
    const replaced = withSettingsReplaced('-nc ai.openai_api_key=sk-a -ecai.x-key=sk-b -n-ai.y-key=sk-c -e', (name) => (name.startsWith('ai.') ? 'held' : undefined));
    expect(replaced).toBe('-nc ai.openai_api_key=held -ecai.x-key=held -n-ai.y-key=held -e');
  });

  it('is undefined when nothing is replaced', () => {
    expect(withSettingsReplaced('-c work_mem=4MB', () => undefined)).toBeUndefined();
  });
});
