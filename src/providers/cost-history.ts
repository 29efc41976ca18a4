// What model calls cost over the last minutes, per model instance and per role, in buckets of BUCKET_SECONDS, for
// the admin dashboard's plot. Bounded: HISTORY_BUCKETS buckets, and in each at most SERIES_PER_BUCKET names per
// dimension, the rest summed under "other" (any role may name a model anything).

const BUCKET_SECONDS = 10;
const HISTORY_BUCKETS = 60;
const SERIES_PER_BUCKET = 20;
const OTHER = 'other';

export interface CostBucket {
  /** Start of the bucket, milliseconds since the epoch. */
  start: number;
  byModel: Record<string, number>;
  byRole: Record<string, number>;
}

interface Bucket {
  start: number;
  byModel: Map<string, number>;
  byRole: Map<string, number>;
}

const buckets: Bucket[] = [];

/** Adds a call's cost (US dollars) to the bucket of now. */
export function recordCost(model: string, role: string, costUsd: number, now = Date.now()): void {
  const start = now - (now % (BUCKET_SECONDS * 1000));
  let bucket = buckets.at(-1);
  if (bucket?.start !== start) {
    bucket = { start, byModel: new Map(), byRole: new Map() };
    buckets.push(bucket);
  }
  add(bucket.byModel, model, costUsd);
  add(bucket.byRole, role, costUsd);
  forgetBefore(now);
}

/** The buckets of the last HISTORY_BUCKETS × BUCKET_SECONDS seconds that saw a cost, oldest first. */
export function costHistory(now = Date.now()): { bucketSeconds: number; historySeconds: number; buckets: CostBucket[] } {
  forgetBefore(now);
  return {
    bucketSeconds: BUCKET_SECONDS,
    historySeconds: HISTORY_BUCKETS * BUCKET_SECONDS,
    buckets: buckets.map(({ start, byModel, byRole }) => ({ start, byModel: Object.fromEntries(byModel), byRole: Object.fromEntries(byRole) })),
  };
}

function add(series: Map<string, number>, name: string, costUsd: number): void {
  const key = series.has(name) || series.size < SERIES_PER_BUCKET ? name : OTHER;
  series.set(key, (series.get(key) ?? 0) + costUsd);
}

function forgetBefore(now: number): void {
  const oldest = now - HISTORY_BUCKETS * BUCKET_SECONDS * 1000;
  while (buckets.length > 0 && buckets[0]!.start < oldest) buckets.shift();
}
