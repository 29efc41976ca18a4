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
  });

  it('keeps what a backslash escapes, whitespace included, and leaves dashes of values alone', () => {
    expect(startupSettings('-c application_name=a\\ b\\\\c -c search_path=my-schema')).toEqual([
      ['application_name', 'a b\\c'],
      ['search_path', 'my-schema'],
    ]);
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

  it('is undefined when nothing is replaced', () => {
    expect(withSettingsReplaced('-c work_mem=4MB', () => undefined)).toBeUndefined();
  });
});
