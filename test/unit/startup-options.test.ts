import { describe, expect, it } from 'vitest';
import { startupSettings } from '../../src/intercept/startup-options.js';

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
