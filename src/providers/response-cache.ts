// An optional cache of whole answers to deterministic requests (temperature 0), so repeating a question costs no
// provider call. Keyed by who asks (role and database: an answer is never another role's to read, nor whether it
// was asked), the model instance (its config and key, hashed), the options, the history and the prompt;
// bounded in entries and in bytes, each living at most the TTL; least recently used entries go first. Off unless
// --response-cache-entries is set. Streams are not cached: a client asking for one wants the provider's pace.
//
// Any role may point a model at a server of its own that answers every prompt with the largest answer allowed, so
// the bytes are bounded as well as the entries (64 answers of 8 MiB are half a gigabyte): both in all, and per login
// role (a quarter, so one role's answers, many small ones or a few big ones, cannot push every other role's out), and an
// answer larger than a sixteenth of the whole is not kept at all.

import { createHash } from 'node:crypto';
import { shareOf, type Asker } from './asker.js';
import type { ChatRequest, ChatResult, Provider } from './provider.js';

interface Entry {
  result: ChatResult;
  /** Whose share of the cache the entry takes (asker.ts). */
  share: Asker;
  bytes: number;
  expiresAt: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
}

export const DEFAULT_RESPONSE_CACHE_BYTES = 64 * 1024 ** 2;
const ROLES_TO_FILL_THE_CACHE = 4;
const LARGEST_ENTRY_SHARE = 16;
/** What an entry holds besides its text: the key, the result's other fields, the maps' own. */
const ENTRY_OVERHEAD_BYTES = 512;

let maxEntries = 0;
let maxBytes = DEFAULT_RESPONSE_CACHE_BYTES;
let ttlMs = 3_600_000;
/** Every entry, least recently used first; and each share's, in the same order. */
const entries = new Map<string, Entry>();
const byShare = new Map<Asker, Map<string, Entry>>();
const held = { bytes: 0, byShare: new Map<Asker, number>() };
const stats = { hits: 0, misses: 0, evictions: 0 };

export function configureResponseCache(size: number, ttlSeconds: number, bytes = DEFAULT_RESPONSE_CACHE_BYTES): void {
  maxEntries = size;
  maxBytes = bytes;
  ttlMs = ttlSeconds * 1000;
  while (entries.size > maxEntries || held.bytes > maxBytes) evict(entries);
}

export function responseCacheStats(): CacheStats {
  return { ...stats, entries: entries.size, bytes: held.bytes };
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
        remove(key, hit);
        add(key, hit);
        return { ...hit.result, cached: true, costUsd: 0 };
      }
      if (hit) remove(key, hit);
      stats.misses++;
      const result = await provider.chat(request);
      // An answer a cap cut short is not what the same request asks for under no cap.
      if (!result.heldShort) keep(key, { result, share: shareOf(request.asker), bytes: entryBytes(result), expiresAt: Date.now() + ttlMs });
      return result;
    },
  };
}

function keep(key: string, entry: Entry): void {
  if (entry.bytes > maxBytes / LARGEST_ENTRY_SHARE) return;
  // A request made twice at once is answered twice: the later answer replaces the earlier.
  const earlier = entries.get(key);
  if (earlier) remove(key, earlier);
  add(key, entry);
  const bytesShare = maxBytes / ROLES_TO_FILL_THE_CACHE;
  const entryShare = Math.ceil(maxEntries / ROLES_TO_FILL_THE_CACHE);
  const own = byShare.get(entry.share)!;
  while ((held.byShare.get(entry.share) ?? 0) > bytesShare || own.size > entryShare) evict(own);
  while (entries.size > maxEntries || held.bytes > maxBytes) evict(entries);
}

/** Strings take up to two bytes a character in V8. */
function entryBytes(result: ChatResult): number {
  return 2 * (result.text.length + result.model.length) + ENTRY_OVERHEAD_BYTES;
}

function add(key: string, entry: Entry): void {
  entries.set(key, entry);
  const own = byShare.get(entry.share) ?? new Map<string, Entry>();
  own.set(key, entry);
  byShare.set(entry.share, own);
  count(entry, entry.bytes);
}

function remove(key: string, entry: Entry): void {
  entries.delete(key);
  const own = byShare.get(entry.share)!;
  own.delete(key);
  if (own.size === 0) byShare.delete(entry.share);
  count(entry, -entry.bytes);
}

function count(entry: Entry, bytes: number): void {
  held.bytes += bytes;
  const sharesBytes = (held.byShare.get(entry.share) ?? 0) + bytes;
  if (sharesBytes === 0) held.byShare.delete(entry.share);
  else held.byShare.set(entry.share, sharesBytes);
}

/** Drops the least recently used entry of `from`: the whole cache, or one share's entries. */
function evict(from: Map<string, Entry>): void {
  const oldest = from.entries().next();
  if (oldest.done) return;
  remove(...oldest.value);
  stats.evictions++;
}

function cacheKey(instanceKey: string, { prompt, history, options, asker }: ChatRequest): string {
  const hash = createHash('sha256').update(JSON.stringify([asker, instanceKey, options]));
  // The texts, megabytes perhaps, are hashed as they are, each after its length: JSON.stringify would take the event
  // loop most of a second to write a big one out (request-body.ts).
  for (const text of [...(history ?? []).flatMap(({ role, content }) => [role, content]), prompt]) hash.update(`\0${text.length}\0`).update(text);
  return hash.digest('hex');
}
