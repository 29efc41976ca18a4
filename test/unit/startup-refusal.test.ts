import { describe, expect, it } from 'vitest';
import { startupRefusal } from '../../src/intercept/startup-refusal.js';

// PostgreSQL reads each -c name=value and --name=value of the startup options with ParseLongOption, which turns every
// dash of the name into an underscore: -c pg-llm.master-key=K sets pg_llm.master_key to K, in clear, where SHOW and
// any other role's code run in the session read it.
describe('startupRefusal', () => {
  it('refuses the master key in every spelling of the startup options the server reads as pg_llm.master_key', () => {
    for (const options of ['-c pg_llm.master_key=K', '-c pg-llm.master-key=K', '--pg-llm.master-key=K', '-cpg_llm.master-key=K', '-nc pg_llm.master_key=K', '-ecpg-llm.master_key=K', '-n-pg-llm.master-key=K']) {
      expect(startupRefusal(new Map([['options', options]])), options).toBeDefined();
    }
  });

  it("refuses a URL with a user, a password or a query in one of pgai's server settings, and lets one without any pass", () => {
    for (const options of ['-c ai.openai_base_url=http://h/v1?key=K', '-c ai.ollama-host=http://u:K@h', '--ai.anthropic_base_url=http://K@h', '-c AI.cohere_base_url=http://h/?t=K']) {
      expect(startupRefusal(new Map([['options', options]])), options).toMatchObject({ sqlstate: '22023', severity: 'FATAL' });
      expect(startupRefusal(new Map([['options', options]]))!.message).not.toContain('K');
    }
    expect(startupRefusal(new Map([['ai.voyageai_base_url', 'http://h/?key=K']]))).toMatchObject({ sqlstate: '22023' });
    expect(startupRefusal(new Map([['ai.openai_base_url', 'http://h/v1?K']]))).toMatchObject({ sqlstate: '22023' });
    expect(startupRefusal(new Map([['ai.ollama_host', 'user:K@h:11434']]))).toMatchObject({ sqlstate: '22023' });
    expect(startupRefusal(new Map([['options', '-c ai.openai_base_url=http://h:8080/v1'], ['ai.ollama_host', 'h:11434']]))).toBeUndefined();
    expect(startupRefusal(new Map([['application_name', 'http://u:K@h']]))).toBeUndefined();
  });

  it('refuses options naming a setting of pgai or pg_llm, in any spelling, beside a byte a locale may split at', () => {
    for (const options of ['-D\u00a0 -c ai.openai_api_key=K', '-D\u00a0 -c a\\i.openai_api_key=K', '-D\u00e0 --pg-llm.trusted-owners=bob']) {
      expect(startupRefusal(new Map([['options', options]])), options).toMatchObject({ sqlstate: '0A000', severity: 'FATAL' });
    }
    expect(startupRefusal(new Map([['options', '-c application_name=caf\u00e0']]))).toBeUndefined();
  });
});
