// A cache that holds at most a given number of entries, so that no caller naming ever new keys grows it without
// bound: the least recently used entry makes room for a new one. With a lifetime, an entry is forgotten once that
// long has passed since it was set, and every such entry is dropped whenever one is set, so that an entry nobody asks
// for again does not hold what it keeps alive (an SDK client, key material) until the bound pushes it out.

export class BoundedCache<Key, Value> {
  /** Least recently used first. */
  private readonly entries = new Map<Key, { value: Value; setAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly lifetimeMs = Infinity,
  ) {}

  /** The value set for `key`, unless it has been dropped or has outlived the lifetime. */
  get(key: Key): Value | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (this.expired(entry)) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: Key, value: Value): void {
    this.entries.delete(key);
    // At most `limit` entries to look at, and a set is rare next to the gets it serves.
    if (this.lifetimeMs !== Infinity) for (const [other, entry] of this.entries) if (this.expired(entry)) this.entries.delete(other);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, setAt: performance.now() });
  }

  delete(key: Key): void {
    this.entries.delete(key);
  }

  private expired(entry: { setAt: number }): boolean {
    return performance.now() - entry.setAt >= this.lifetimeMs;
  }
}
