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
});
