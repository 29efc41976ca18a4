// The proxy's Prometheus metrics, on prom-client. Every family the process keeps for its life registers in
// `processRegistry`, which the admin server serves with the families of the listener it reports on. With the admin
// server come the process and Node.js runtime metrics (CPU, memory, file descriptors, garbage collection,
// event-loop lag) and pg_llm_proxy_build_info.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { packageVersion } from './package-root.js';

/** Longer label values are cut: a name is for telling series apart, not for carrying text. */
const MAX_LABEL_CHARACTERS = 100;

export const processRegistry = new Registry();
let runtimeCollected = false;

/** Starts the runtime metrics, once: their event-loop monitor then runs for the life of the process. */
export function collectRuntimeMetrics(): void {
  if (runtimeCollected) return;
  runtimeCollected = true;
  collectDefaultMetrics({ register: processRegistry });
  new Gauge({
    name: 'pg_llm_proxy_build_info',
    help: 'Always 1: the version of the proxy and of Node.js it runs on, as labels.',
    labelNames: ['version', 'node_version'],
    registers: [processRegistry],
  }).set({ version: packageVersion(), node_version: process.version }, 1);
}

/** A label value as the proxy shows it: cut to its first characters (prom-client escapes it). */
export function labelValue(value: string): string {
  // Its first characters lie within twice as many UTF-16 units: a long name is not spread whole.
  return [...value.slice(0, 2 * MAX_LABEL_CHARACTERS + 1)].slice(0, MAX_LABEL_CHARACTERS).join('');
}

/**
 * The values one label takes: the first `max` names seen keep series of their own, and so do the names `kept` says
 * (the operator's), the others count under "other". Any role may name a model anything, so a label fed by names is
 * bounded, or /metrics would grow with them.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private max: number,
    private readonly kept: (name: string) => boolean = () => false,
  ) {}

  setMax(max: number): void {
    this.max = max;
  }

  /** The label value a name counts under, cut short (labelValue). */
  of(name: string): string {
    // Kept cut short too: the names seen may be as long as a role likes.
    const value = labelValue(name);
    if (this.seen.has(value) || this.kept(name)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

/** A counter read when scraped from a number kept elsewhere, such as a plain field bumped on a hot path. */
export function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read when scraped. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
