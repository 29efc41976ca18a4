// The model a provider answers with when a model config names none: the same for `pg_llm_add_model` and for the
// proxy's default model, so the one list of defaults in docs/providers.md holds for both. Azure and OpenAI-compatible
// servers have no such default: their deployments and model names are the operator's own.

export const DEFAULT_MODEL_NAMES: Readonly<Record<string, string>> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-6',
  ollama: 'llama3.2',
  gemini: 'gemini-2.5-flash',
};
