// What the admin dashboard polls (GET /api/overview): the sessions, the model calls running and recent, the limits'
// queues, the worker's queues, the cost history and today's spend by role, database and model beside the roles'
// daily budgets, read from what the proxy keeps anyway. Statements are shown
// without their values (shown-statement.ts); prompts, answers, parameters and credentials are not here at all.

import type { SessionView } from '../../proxy/listener.js';
import { dailySpend } from '../cost/daily-spend.js';
import { packageVersion } from '../package-root.js';
import { callBoard } from '../providers/call-board.js';
import { costHistory } from '../providers/cost-history.js';
import { modelQueues, processSlots } from '../providers/limits.js';
import { queueCounts } from '../worker/metrics.js';
import { shownName, shownStatement } from './shown-statement.js';

const VERSION = packageVersion();
/** Enough sessions for a page; the busiest first, and the count of all. */
const SHOWN_SESSIONS = 200;
const ACTIVITY_ORDER = ['active', 'idle in transaction (aborted)', 'idle in transaction', 'starting', 'idle'];

export interface OverviewSources {
  sessions: () => SessionView[];
  startedAt: number;
}

export function overview({ sessions, startedAt }: OverviewSources) {
  const now = Date.now();
  const open = sessions();
  const shown = open.sort((a, b) => ACTIVITY_ORDER.indexOf(a.activity) - ACTIVITY_ORDER.indexOf(b.activity)).slice(0, SHOWN_SESSIONS);
  return {
    now,
    version: VERSION,
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    sessionsOpen: open.length,
    sessions: shown.map(({ statement, ...session }) => ({
      ...session,
      user: shownName(session.user),
      database: shownName(session.database),
      application: session.application === undefined ? undefined : shownName(session.application),
      ...(statement && { statement: shownStatement(statement.bytes.toString('utf8'), statement.whole), statementAt: statement.at }),
    })),
    calls: callBoard(),
    limits: { process: processSlots(), models: modelQueues() },
    queues: queueCounts(),
    costs: costHistory(now),
    spend: dailySpend(now),
  };
}
