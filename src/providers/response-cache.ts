// An optional cache of whole answers to deterministic requests (temperature 0), so repeating a question costs no
// provider call. Keyed by who asks (role and database: an answer is never another role's to read, nor whether it
// was asked), the model instance (its config and key, hashed), the options, the history and the prompt;
// bounded in entries, each living at most the TTL; least recently used entries go first. Off unless
// --response-cache-entries is set. Streams are not cached: a client asking for one wants the provider's pace.

import { createHash } from 'node:crypto';
import type { ChatRequest, ChatResult, Provider } from './provider.js';

interface Entry {
  result: ChatResult;
  expiresAt: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
}

let maxEntries = 0;
let ttlMs = 3_600_000;
const entries = new Map<string, Entry>();
const stats = { hits: 0, misses: 0, evictions: 0 };

export function configureResponseCache(size: number, ttlSeconds: number): void {
  maxEntries = size;
  ttlMs = ttlSeconds * 1000;
  while (entries.size > maxEntries) evictOldest();
}

export function responseCacheStats(): CacheStats {
  return { ...stats, entries: entries.size };
}

/** The provider with answers to temperature-0 requests served from the cache when it is on. */
export function cached(provider: Provider, instanceKey: string): Provider {
  return {
    ...provider,
    async chat(request) {
      if (maxEntries === 0 || request.options.temperature !== 0 || request.asker === undefined) return provider.chat(request);
      const key = cacheKey(instanceKey, request);
      const hit = entries.get(key);
      if (hit && hit.expiresAt > Date.now()) {
        stats.hits++;
        entries.delete(key);
        entries.set(key, hit);
        return { ...hit.result, cached: true, costUsd: 0 };
      }
      if (hit) entries.delete(key);
      stats.misses++;
      const result = await provider.chat(request);
      entries.set(key, { result, expiresAt: Date.now() + ttlMs });
      while (entries.size > maxEntries) evictOldest();
      return result;
    },
  };
}

function cacheKey(instanceKey: string, { prompt, history, options, asker }: ChatRequest): string {
  return createHash('sha256').update(JSON.stringify([asker, instanceKey, options, history ?? [], prompt])).digest('hex');
}

function evictOldest(): void {
  const oldest = entries.keys().next();
  if (oldest.done) return;
  entries.delete(oldest.value);
  stats.evictions++;
}
