/**
 * Runs a command the way a Lambda function of MEM_MB megabytes would run it: memory capped at
 * MEM_MB without swap, CPU capped at MEM_MB/1769 of one core (Lambda's documented ratio: 1769 MB is
 * one vCPU), in a child cgroup made for the run and removed after it. cgroup v2 first (memory.max,
 * memory.swap.max = 0, cpu.max; peak from memory.peak), cgroup v1 otherwise (memory.limit_in_bytes,
 * memory.memsw.limit_in_bytes, cpu.cfs_quota_us; peak from memory.max_usage_in_bytes). Needs root
 * or a delegated cgroup. When the limits cannot be applied, the command runs without them and the
 * result says so (`applied: false` and why): callers report the figure as measured without the cap.
 *
 *   ts-node bench/lambda-limits.ts MEM_MB COMMAND [ARG...]   (exit status: the command's)
 */
import * as childProcess from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Lambda allots one vCPU at 1769 MB, and CPU in proportion to memory. */
export const MB_PER_VCPU = 1769;
const PERIOD_US = 100_000;

export interface LimitedRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether the memory cap and CPU share were applied. */
  readonly applied: boolean;
  /** How they were applied (`cgroup v1 ...`), or why not. */
  readonly how: string;
  readonly memoryMb: number;
  /** The CPU share applied (or that would have been): quota / period. */
  readonly cpuShare: number;
  /** The cgroup's memory high-water mark, MiB (floor); undefined when not applied or not reported. */
  readonly peakMb?: number;
  /** Times the memory use hit the cap (v1 memory.failcnt, v2 memory.events `max`). */
  readonly limitHits?: number;
  /** Killed by the kernel for memory. */
  readonly oomKilled: boolean;
}

/** The CPU quota per 100 ms period for a function of `memoryMb`. */
export function cpuQuotaUs(memoryMb: number): number {
  return Math.max(1000, Math.floor((PERIOD_US * memoryMb) / MB_PER_VCPU));
}

interface Mount {
  readonly root: string;
  readonly point: string;
  readonly fstype: string;
  readonly options: string[];
}

function mounts(): Mount[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [left, right] = line.split(' - ');
    const f = left.split(' ');
    const [fstype, , superOptions] = right.split(' ');
    return { root: f[3], point: f[4], fstype, options: (superOptions ?? '').split(',') };
  });
}

/** This process's cgroup in a hierarchy: `id:controllers:path` lines of /proc/self/cgroup. */
function ownPath(match: (controllers: string[]) => boolean): string | undefined {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean)) {
    const [, controllers, p] = line.split(/:(.*?):/);
    if (p !== undefined && match(controllers.split(','))) return p;
  }
  return undefined;
}

/** The folder of a cgroup path under a mount (the mount's root may be a sub-tree). */
function dirOf(mount: Mount, cgroupPath: string): string {
  const rel = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return path.join(mount.point, rel);
}

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const rmdir = (dir: string): void => {
  if (fs.existsSync(dir)) fs.rmdirSync(dir);
};
const field = (text: string | undefined, key: string): number | undefined => {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : undefined;
};

interface Cgroup {
  readonly how: string;
  /** The cgroup.procs files the child joins. */
  readonly procs: string[];
  usage(): { peakMb?: number; limitHits?: number; oomKills?: number };
  remove(): void;
}

let serial = 0;
const childName = () => `lambda-limits-${process.pid}-${serial++}`;

function cgroupV2(memoryMb: number): Cgroup | string {
  const mount = mounts().find((m) => m.fstype === 'cgroup2');
  if (!mount) return 'no cgroup v2 mount';
  const own = ownPath((c) => c.length === 1 && c[0] === '');
  if (own === undefined) return 'no cgroup v2 entry in /proc/self/cgroup';
  const ownDir = dirOf(mount, own);
  const available = (read(path.join(ownDir, 'cgroup.controllers')) ?? '').split(' ');
  if (!available.includes('memory') || !available.includes('cpu')) return `cgroup v2 at ${mount.point} without the memory and cpu controllers here`;
  // A child of our own cgroup (the controllers can be enabled there only if it holds no process,
  // or is the root), else a sibling in the parent, which has them enabled for us.
  const parents = ownDir === mount.point ? [ownDir] : [ownDir, path.dirname(ownDir)];
  let why = '';
  for (const parent of parents) {
    const control = path.join(parent, 'cgroup.subtree_control');
    const enabled = () => (read(control) ?? '').split(' ');
    try {
      if (!enabled().includes('memory') || !enabled().includes('cpu')) fs.writeFileSync(control, '+memory +cpu');
      const dir = path.join(parent, childName());
      fs.mkdirSync(dir);
      try {
        fs.writeFileSync(path.join(dir, 'memory.max'), String(memoryMb * 1024 * 1024));
        if (fs.existsSync(path.join(dir, 'memory.swap.max'))) fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
        fs.writeFileSync(path.join(dir, 'cpu.max'), `${cpuQuotaUs(memoryMb)} ${PERIOD_US}`);
      } catch (e) {
        fs.rmdirSync(dir);
        throw e;
      }
      return {
        how: `cgroup v2 (${dir})`,
        procs: [path.join(dir, 'cgroup.procs')],
        usage: () => {
          const peak = read(path.join(dir, 'memory.peak'));
          const events = read(path.join(dir, 'memory.events'));
          return {
            peakMb: peak === undefined ? undefined : Math.floor(Number(peak) / 1048576),
            limitHits: field(events, 'max'),
            oomKills: field(events, 'oom_kill'),
          };
        },
        remove: () => rmdir(dir),
      };
    } catch (e) {
      why = `cgroup v2 under ${parent}: ${(e as Error).message}`;
    }
  }
  return why;
}

function cgroupV1(memoryMb: number): Cgroup | string {
  const all = mounts().filter((m) => m.fstype === 'cgroup');
  const memMount = all.find((m) => m.options.includes('memory'));
  const cpuMount = all.find((m) => m.options.includes('cpu'));
  if (!memMount || !cpuMount) return 'no cgroup v1 memory and cpu hierarchies';
  const memOwn = ownPath((c) => c.includes('memory'));
  const cpuOwn = ownPath((c) => c.includes('cpu'));
  if (memOwn === undefined || cpuOwn === undefined) return 'no cgroup v1 memory and cpu entries in /proc/self/cgroup';
  const name = childName();
  const mem = path.join(dirOf(memMount, memOwn), name);
  const cpu = path.join(dirOf(cpuMount, cpuOwn), name);
  const remove = () => {
    for (const d of [mem, cpu]) rmdir(d);
  };
  try {
    fs.mkdirSync(mem);
    fs.mkdirSync(cpu);
    const bytes = String(memoryMb * 1024 * 1024);
    fs.writeFileSync(path.join(mem, 'memory.limit_in_bytes'), bytes);
    // Memory + swap at the same figure: no swap (absent when the kernel does not account swap).
    if (fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes'))) fs.writeFileSync(path.join(mem, 'memory.memsw.limit_in_bytes'), bytes);
    fs.writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
    fs.writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(memoryMb)));
  } catch (e) {
    try {
      remove();
    } catch { /* best effort */ }
    return `cgroup v1 (${path.dirname(mem)}): ${(e as Error).message}`;
  }
  return {
    how: `cgroup v1 (${mem}, ${cpu})`,
    procs: [path.join(mem, 'cgroup.procs'), path.join(cpu, 'cgroup.procs')],
    usage: () => {
      const peak = read(path.join(mem, 'memory.max_usage_in_bytes'));
      const failcnt = read(path.join(mem, 'memory.failcnt'));
      return {
        peakMb: peak === undefined ? undefined : Math.floor(Number(peak) / 1048576),
        limitHits: failcnt === undefined ? undefined : Number(failcnt),
        oomKills: field(read(path.join(mem, 'memory.oom_control')), 'oom_kill'),
      };
    },
    remove,
  };
}

/** Moves the shell into the cgroups, then execs the command (same pid, so its children follow). */
const JOIN = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"';

/** The cgroup of a `memoryMb` function (v2 first, v1 as the fallback), or why there is none. */
function cgroupFor(memoryMb: number): Cgroup | string {
  const v2 = cgroupV2(memoryMb);
  if (typeof v2 !== 'string') return v2;
  const v1 = cgroupV1(memoryMb);
  if (typeof v1 !== 'string') return v1;
  const user = process.getuid?.() === 0 ? '' : ', not running as root';
  return `${v2}; ${v1}${user}`;
}

type Ended = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** The command that runs `cmd args` inside the cgroup. */
function joining(cgroup: Cgroup, cmd: string, args: string[]): [string, string[]] {
  return ['/bin/sh', ['-c', JOIN, 'lambda-limits', ...cgroup.procs, '--', cmd, ...args]];
}

/** What a run under the cgroup did, read from the cgroup before it is removed. */
function limitedRun(r: Ended, cgroup: Cgroup, memoryMb: number, cpuShare: number): LimitedRun {
  const u = cgroup.usage();
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    applied: r.status !== 125,
    how: r.status === 125 ? `${cgroup.how}: could not join it: ${r.stderr.trim()}` : cgroup.how,
    memoryMb,
    cpuShare,
    peakMb: u.peakMb,
    limitHits: u.limitHits,
    oomKilled: r.signal === 'SIGKILL' && ((u.oomKills ?? 0) > 0 || (u.limitHits ?? 0) > 0),
  };
}

/** A run without limits, and why. */
function unlimitedRun(r: Ended, how: string, memoryMb: number, cpuShare: number): LimitedRun {
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, applied: false, how, memoryMb, cpuShare, oomKilled: false };
}

function removeCgroup(cgroup: Cgroup): void {
  try {
    cgroup.remove();
  } catch { /* a process left behind keeps it; it goes with the parent */ }
}

/**
 * Runs `cmd args` under the limits of a `memoryMb` function, synchronously (options as for
 * spawnSync; the output is read as UTF-8). Without the limits when they cannot be applied.
 */
export function runLimited(memoryMb: number, cmd: string, args: string[], options: childProcess.SpawnSyncOptions = {}): LimitedRun {
  const cpuShare = cpuQuotaUs(memoryMb) / PERIOD_US;
  const cgroup = cgroupFor(memoryMb);
  const spawn = (c: string, a: string[]): Ended => {
    const r = childProcess.spawnSync(c, a, { maxBuffer: 256 * 1024 * 1024, ...options, encoding: 'utf8' });
    if (r.error) throw r.error;
    return r;
  };
  if (typeof cgroup === 'string') return unlimitedRun(spawn(cmd, args), cgroup, memoryMb, cpuShare);
  try {
    return limitedRun(spawn(...joining(cgroup, cmd, args)), cgroup, memoryMb, cpuShare);
  } finally {
    removeCgroup(cgroup);
  }
}

/**
 * As `runLimited`, without blocking: the caller's event loop keeps running (a server in the same
 * process can answer the command). Output is collected as UTF-8.
 */
export async function spawnLimited(memoryMb: number | undefined, cmd: string, args: string[],
  options: childProcess.SpawnOptions = {}): Promise<LimitedRun> {
  const cpuShare = memoryMb === undefined ? 1 : cpuQuotaUs(memoryMb) / PERIOD_US;
  const cgroup = memoryMb === undefined ? 'no limits asked for' : cgroupFor(memoryMb);
  const spawn = (c: string, a: string[]) => new Promise<Ended>((resolve, reject) => {
    const child = childProcess.spawn(c, a, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  const mem = memoryMb ?? 0;
  if (typeof cgroup === 'string') return unlimitedRun(await spawn(cmd, args), cgroup, mem, cpuShare);
  try {
    return limitedRun(await spawn(...joining(cgroup, cmd, args)), cgroup, mem, cpuShare);
  } finally {
    removeCgroup(cgroup);
  }
}

/** One line for a log or a report: what was applied, the peak and the limit hits. */
export function describe(r: LimitedRun): string {
  if (!r.applied) return `NOT capped (measured without the ${r.memoryMb} MB cap and ${r.cpuShare.toFixed(3)} CPU share: ${r.how})`;
  return `mem_limit_mb=${r.memoryMb} cpu_share=${r.cpuShare.toFixed(3)} peak_mb=${r.peakMb ?? '-'} limit_hits=${r.limitHits ?? '-'}`
    + `${r.oomKilled ? ' killed: out of memory' : ''} via ${r.how}`;
}

// Run as a command (not when bundled into a worker, where `module` is the bundle's).
if (require.main === module && /lambda-limits\.[jt]s$/.test(process.argv[1] ?? '')) {
  const [mem, cmd, ...rest] = process.argv.slice(2);
  if (!mem || !cmd || !(Number(mem) > 0)) {
    process.stderr.write('usage: lambda-limits.ts MEM_MB COMMAND [ARG...]\n');
    process.exit(2);
  }
  const r = runLimited(Number(mem), cmd, rest, { stdio: ['inherit', 'pipe', 'pipe'] });
  process.stdout.write(r.stdout);
  process.stderr.write(`${r.stderr}lambda-limits: ${describe(r)}\n`);
  process.exit(r.status ?? (r.signal === 'SIGKILL' ? 137 : 1));
}
