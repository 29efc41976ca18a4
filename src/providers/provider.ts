// One interface for every model provider: a whole answer, or the answer as it streams. Adapters turn a model
// instance's config (from pg_llm_add_model) into one of these.

export interface ChatRequest {
  prompt: string;
  system?: string;
  /** Aborted when the client cancels the statement or goes away: the request must stop then. */
  signal: AbortSignal;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatResult {
  text: string;
  /** 0 to 1: how sure the model is of its answer (see the provider's notes on how it is derived). */
  confidence: number;
  usage: Usage;
  /** The provider's own name for the model that answered. */
  model: string;
}

export type StreamEvent = { kind: 'chunk'; text: string } | { kind: 'done'; result: ChatResult };

export interface Provider {
  chat(request: ChatRequest): Promise<ChatResult>;
  /** Chunks as the provider produces them, then one 'done' with the whole answer. */
  stream(request: ChatRequest): AsyncIterable<StreamEvent>;
}
