// pg_llm_bgw's API (seed 001): a prompt to the default provider, and which provider that is (see
// src/providers/default-provider.ts for how it is chosen). Unlike the extension, calls run concurrently and prompts
// and answers have no 4 KB / 16 KB caps.

import { declareFunction, noModel } from './declaration.js';
import { askModel, auditDefault, defaultModelRequests } from './default-model.js';

export const askFunctions = [
  declareFunction({
    name: 'llm_ask',
    arguments: [{ name: 'prompt', type: 'text' }],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The default provider's answer to a prompt (the provider comes from the proxy's configuration).",
    models: async (args, context) => defaultModelRequests(context.defaults.model(), String(args.prompt)),
    async run(args, context) {
      const model = context.defaults.model();
      const answer = await askModel(context, model, String(args.prompt));
      await auditDefault(context, 'llm_ask', model, answer);
      return answer.result.text;
    },
  }),
  declareFunction({
    name: 'llm_provider',
    arguments: [],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The default provider llm_ask uses: 'openai', 'azure_openai', 'anthropic'…",
    models: noModel,
    run: async (_args, context) => context.defaults.provider,
  }),
];
