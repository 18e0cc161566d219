/**
 * What the runner (bench/run.ts and the measurement modules) hands its workers, and what they print
 * back: one module imported by both sides, so the JSON crossing the process boundary is typed at
 * both ends. bench/pillow_worker.py reads a CpuJob and prints a CpuJobResult too.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The shipped bundles a LocalPipeline runs (bench/local-run.ts). */
export interface LocalRunAssets {
  /** The handler bundle (a copy outside the repo, so `sharp` resolves from NODE_PATH = the layer). */
  readonly handlerPath: string;
  readonly workerPath: string;
  readonly layerPath: string;
}

/** `transform-worker.js cpu JOB.json` and `pillow_worker.py cpu JOB.json`. */
export interface CpuJob {
  readonly impls: string[];
  readonly files: string[];
  /** Where to write each implementation's output for each file: `<outDir>/<impl>/<basename>`. */
  readonly outDir?: string;
  /** CPU time to spend per implementation, after the warm-up pass. */
  readonly targetMs: number;
  readonly minPasses: number;
  readonly maxPasses: number;
}

export interface CpuImplResult {
  readonly impl: string;
  readonly images: number;
  readonly passes: number;
  readonly cpuMsPerImage: number;
  readonly wallMsPerImage: number;
  /** Mean bytes of an output. */
  readonly outBytes: number;
}

/** The one line a `cpu` worker prints. */
export interface CpuJobResult {
  readonly results: CpuImplResult[];
  /** RSS high-water mark (KiB) once the interpreter, the library and the inputs are loaded. */
  readonly baselineRssKb?: number;
  readonly peakRssKb?: number;
  /** The sharp the worker actually loaded (Node side only). */
  readonly sharpPath?: string;
}

/** A line of `transform-worker.js once FILE...` or `pillow_worker.py once FILE...`: one per file. */
export interface OnceImage {
  readonly file: string;
  readonly ok: boolean;
  readonly width?: number;
  readonly height?: number;
  readonly outBytes?: number;
  readonly ms?: number;
  readonly error?: string;
}

/** The last line of a `once` run. */
export interface OncePeak {
  readonly peakRssKb?: number;
}

/** `handler-cost-worker.js JOB.json`. */
export interface HandlerCostJob extends LocalRunAssets {
  /** Upload bodies, cycled. */
  readonly files: string[];
  /** Images per measurement. */
  readonly images: number;
  readonly rounds: number;
}

export type HandlerCostWhat = 'transform' | 'handler' | 'handler-no-events';

/** One line per measurement and round. */
export interface HandlerCostRow {
  readonly round: number;
  readonly what: HandlerCostWhat;
  readonly images: number;
  readonly cpuMsPerImage: number;
  readonly wallMsPerImage: number;
  /** Execution environments measured (handler rounds). */
  readonly environments?: number;
  /** CPU of the measuring process (endpoint, events sink, pool, client) per image (handler rounds). */
  readonly localCpuMsPerImage?: number;
  /** Outcome counts (handler rounds). */
  readonly statuses?: Record<string, number>;
}

/** `burst-worker.js JOB.json`. */
export interface BurstJob extends LocalRunAssets {
  /** Uploads per burst, one burst per entry. */
  readonly sizes: number[];
  /** Upload bodies, cycled: the original system's three sizes. */
  readonly files: string[];
  /** Execution environments of the local pool. */
  readonly concurrency: number;
  readonly uploadConcurrency: number;
  /** Per batch: deadline = baseMs + perImageMs * N after the first upload starts. */
  readonly deadlineBaseMs: number;
  readonly deadlinePerImageMs: number;
}

/** One line per burst. */
export interface BurstBatch {
  readonly n: number;
  readonly warmLost: number;
  readonly uploadErrors: number;
  readonly settled: number;
  readonly lost: number;
  readonly statuses: Record<string, number>;
  readonly deadlineMs: number;
  readonly wallMs: number | null;
  readonly uploadWallMs: number;
  /** Images per second, settled uploads only. */
  readonly throughput: number;
  /** Upload start to output, sorted ascending. */
  readonly latencyMs: number[];
  readonly uploadMs: { readonly p50: number | null; readonly p99: number | null };
}

/** `cost-worker.js JOB.json`, under the memory size's limits. */
export interface CostJob {
  readonly memoryMb: number;
  readonly files: string[];
}

export interface CostResult {
  readonly wallMsPerImage: number;
}

export type WorkerJob = CpuJob | HandlerCostJob | BurstJob | CostJob;

/** Writes a job where a worker will read it; returns the file. */
export function writeJob<T extends WorkerJob>(file: string, job: T): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(job));
  return file;
}

/** Reads the job a worker was handed. */
export function readJob<T extends WorkerJob>(file: string | undefined): T {
  if (!file) throw new Error('usage: <worker> JOB.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Prints one JSON line on stdout: what a worker reports. */
export function emit<T extends object>(line: T): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The JSON lines of a worker's stdout (other lines ignored). */
export function jsonLines<T>(text: string | undefined): T[] {
  return (text ?? '').split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as T);
}

/** A line of `mem-worker.js handle`: one per S3 event the handler processed. */
export interface MemHandled {
  readonly key: string;
  /** The record's outcome (processed, rejected, skipped), or `error` when the handler threw. */
  readonly status: string;
  readonly reason?: string;
  readonly ms: number;
  readonly rssHwmKb?: number;
}

/** The last line of a `mem-worker.js handle` run. */
export interface MemPeak {
  readonly peakRssKb?: number;
  /** The ballast held through the run, MiB. */
  readonly ballastMb?: number;
}
