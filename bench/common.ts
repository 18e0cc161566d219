/**
 * Paths, child-process helpers and the small statistics and formatting helpers the runner's
 * modules share. Runner side only: the workers do not import it.
 */
import * as childProcess from 'child_process';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');
export const BENCH = __dirname;
export const CACHE = path.join(BENCH, '.cache');
export const JOBS = path.join(CACHE, 'jobs');
export const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
export const LAYER = path.join(ROOT, 'assets', 'sharp-layer', ARCH, 'nodejs', 'node_modules');
export const HANDLER = path.join(ROOT, 'assets', 'lambda-src', 'process-image.lambda', 'index.js');
export const LOCAL_WORKER = path.join(ROOT, 'assets', 'lambda-src', 'local', 'lambda-worker', 'index.js');
export const PYTHON = '/usr/bin/python3';
export const PILLOW_WORKER = path.join(BENCH, 'pillow_worker.py');
export const ORIGINAL_HANDLER = path.join(BENCH, 'original_handler.py');
export const DEFAULT_BACKGROUNDS = '/usr/share/backgrounds';

/** The original system's three resolutions, and a 24 MP camera frame. */
export const SIZES: ReadonlyArray<readonly [number, number]> = [[1200, 800], [1500, 997], [2040, 1536], [6000, 4000]];
export const PHOTOS_PER_SIZE = 5;

/** The esbuild bundles of the workers, in bench/.cache/build. */
export interface Workers {
  readonly transformWorker: string;
  readonly handlerCost: string;
  readonly handlerDriver: string;
  readonly burst: string;
}

/** What the machine has, and what the bench found on it. */
export interface MachineInfo {
  readonly date: string;
  readonly nproc: string;
  readonly cpu: string;
  readonly memory: string;
  readonly os: string;
  readonly node: string;
  readonly sharp: string;
  readonly vips: string;
  readonly jpeg: string;
  readonly sharpPath: string;
  readonly python?: string;
  readonly pillow?: string;
  readonly boto3?: string;
  readonly commit: string;
  /** The sharp a CPU worker loaded, once one has run. */
  workerSharp?: string;
}

export interface Options {
  photos?: string;
  rounds: number;
  bursts: number[];
  cold: number;
  targetMs: number;
  skip: Set<string>;
  /** Also measure the candidate sharp pipelines (exploration). */
  explore: boolean;
  /** Where RESULTS.md, COST.md and latency.svg go. */
  out: string;
}

export type RunResult = childProcess.SpawnSyncReturns<string>;

export function run(cmd: string, args: string[], options: childProcess.SpawnSyncOptions = {}): RunResult {
  const res = childProcess.spawnSync(cmd, args, { maxBuffer: 256 * 1024 * 1024, ...options, encoding: 'utf8' });
  if (res.error) throw res.error;
  return res;
}

export function nodeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? os.tmpdir(), LANG: 'C.UTF-8', NODE_PATH: LAYER, ...extra };
}

export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Debian's interpreter with Debian's packages only: nothing from a pyenv or a virtualenv.
  return { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), LANG: 'C.UTF-8', ...extra };
}

export const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function pct(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN;
}

export function fmt(n: number | null | undefined, digits = 1): string {
  return n === undefined || n === null || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`;
}

export const sizeName = ([w, h]: readonly [number, number]): string => `${w}x${h}`;

export const mb = (kb: number | null | undefined): number | undefined => (kb === undefined || kb === null ? undefined : kb / 1024);

export function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** A markdown table; the first column left-aligned, the others right-aligned unless `align` says. */
export function table(headers: string[], rows: unknown[][], align?: ('l' | 'r')[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? '').length)));
  const al = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const line = (r: string[]) => `| ${r.map((c, i) => (al[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (al[i] === 'l' ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n');
}
