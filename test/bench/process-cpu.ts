// A process's own CPU time, user and system, from /proc/<pid>/stat: all its threads, none of its children's.
// Per transaction, it is a proxy's cost whatever the machine's size or load, where TPS on a shared machine is not.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CpuTime {
  userMicros: number;
  systemMicros: number;
}

let ticksPerSecond: number | undefined;

export function readCpuTime(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 counted from field 3 (the state) at 0.
  const microsPerTick = 1e6 / (ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })));
  return { userMicros: Number(fields[11]) * microsPerTick, systemMicros: Number(fields[12]) * microsPerTick };
}

export function cpuSince(before: CpuTime, after: CpuTime): CpuTime {
  return { userMicros: after.userMicros - before.userMicros, systemMicros: after.systemMicros - before.systemMicros };
}
