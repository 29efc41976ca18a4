// A driver of the matrix written in another language: a script that plays every scenario once and prints one JSON
// line per scenario, {"scenario", "value"} or {"scenario", "error"}. It runs under a hang guard; a scenario it never
// reported fails with the reason.

import { runGuarded } from './guarded-run.js';
import { targetEnvironment, type MatrixTarget, type Play } from './driver-matrix.js';

// Every scenario's own waits are bounded (a cancel that is lost runs into a 20 s sleep or model timeout), so the
// guard only catches a driver that hangs for good.
const GUARD_MS = 150_000;

type Report = { scenario: string; value: unknown } | { scenario: string; error: string };

/** Runs the script against the target and answers its scenarios from what it printed. */
export async function scriptDriver(command: string, args: string[], target: MatrixTarget): Promise<Play> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...targetEnvironment(target) };
  const result = await runGuarded(command, args, { env, guardMs: GUARD_MS });
  const reports = new Map<string, Report>();
  for (const line of result.stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue;
    const report = JSON.parse(line) as Report;
    reports.set(report.scenario, report);
  }
  const ending = result.killedAfterMs === undefined ? `it exited with ${result.status}` : `the hang guard killed it after ${result.killedAfterMs} ms`;
  return async (scenario) => {
    const report = reports.get(scenario);
    if (!report) throw new Error(`${command} ${args.join(' ')} did not report "${scenario}": ${ending}\n${result.stderr}`);
    if ('error' in report) throw new Error(`${scenario}: ${report.error}`);
    return report.value;
  };
}
