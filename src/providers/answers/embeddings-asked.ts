// What an embeddings request asked for, which the thread that parses its answer holds the answer to (vector-tally.ts):
// a server any role may name answered 1,000 vectors of 15,000 numbers for one text, 85 MB of JSON within every cap
// on an answer, and the event loop every session shares read all of it before the adapter found it had too many.
// The SDKs pass nothing of their caller's through to the fetch that reads an answer, so an adapter makes its
// request in an async context that the fetch (http.ts) reads, as it reads the asker (asker.ts).

import { AsyncLocalStorage } from 'node:async_hooks';

export interface EmbeddingsAsked {
  /** The texts of the request: its answer has a vector for each, no more. */
  texts: number;
  /** The numbers of each vector, when the model config says (embedding_dimensions). */
  dimensions?: number;
}

const asking = new AsyncLocalStorage<EmbeddingsAsked>();

/** What the embeddings request being made now asked for; undefined for any other request. */
export function embeddingsAsked(): EmbeddingsAsked | undefined {
  return asking.getStore();
}

/** Runs `request` as asking for `asked`: the answers it reads are held to that. */
export function askingEmbeddings<T>(asked: EmbeddingsAsked, request: () => T): T {
  return asking.run(asked, request);
}
