// The model requests running now and the last ones that ended, for the admin dashboard: which model instance, for
// whom, how long, the tokens and cost, and how each ended. Prompts and answers are never kept. Bounded: the running
// are as many as the limits let run, and of the ended only the last RECENT_CALLS are kept.

import { labelValue } from '../metrics.js';
import { askerParts, type Asker } from './asker.js';
import { recordCost } from './cost-history.js';
import type { Usage } from './provider.js';

const RECENT_CALLS = 20;
/** Enough of an error to tell it; it was masked of the provider's secrets further in (redacted.ts). */
const ERROR_CHARACTERS = 300;

export interface CallView {
  id: number;
  instance: string;
  provider: string;
  model: string;
  kind: string;
  /** Whose call: role@database, or the worker's. */
  role: string;
  startedAt: number;
  outcome: 'running' | 'ok' | 'error' | 'cancelled';
  seconds?: number;
  promptTokens?: number;
  completionTokens?: number;
  costUsd?: number;
  error?: string;
}

export interface CallEnd {
  usage?: Usage;
  costUsd?: number;
  error?: unknown;
  cancelled: boolean;
}

let nextId = 1;
const running = new Map<number, CallView>();
const recent: CallView[] = [];

/** A request starts; the function returned says how it ended. */
export function beginCall(call: { instance: string; provider: string; model: string; kind: string; asker: Asker }): (end: CallEnd) => void {
  const view: CallView = {
    id: nextId++,
    instance: labelValue(call.instance),
    provider: call.provider,
    model: labelValue(call.model),
    kind: call.kind,
    role: roleOf(call.asker),
    startedAt: Date.now(),
    outcome: 'running',
  };
  running.set(view.id, view);
  return ({ usage, costUsd, error, cancelled }) => {
    running.delete(view.id);
    const ended: CallView = { ...view, seconds: (Date.now() - view.startedAt) / 1000, outcome: usage ? 'ok' : cancelled ? 'cancelled' : 'error' };
    if (usage) Object.assign(ended, { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens });
    if (costUsd !== undefined) {
      ended.costUsd = costUsd;
      recordCost(ended.instance, ended.role, costUsd);
    }
    if (ended.outcome === 'error') ended.error = errorText(error);
    recent.unshift(ended);
    recent.length = Math.min(recent.length, RECENT_CALLS);
  };
}

/** The requests running, oldest first, and the last ones ended, newest first. */
export function callBoard(): { running: CallView[]; recent: CallView[] } {
  return { running: [...running.values()], recent: [...recent] };
}

/** An asker as people read it: the session's role@database (asker.ts), or what the worker named itself. */
function roleOf(asker: Asker): string {
  if (asker === undefined) return 'llm.call worker';
  const parts = askerParts(asker);
  return labelValue(parts ? `${parts.role}@${parts.database}` : asker);
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return [...text].slice(0, ERROR_CHARACTERS).join('');
}
