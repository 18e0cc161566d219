/** CPU time, for the benchmark workers. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';

/** user + system CPU ms of this process. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let tickMs: number | undefined;

/** user + system CPU ms of another process, from /proc (clock-tick resolution). */
export function processCpuMs(pid: number): number {
  tickMs ??= 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * tickMs;
}
