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

/** Which handler a run drives: the original's (Python), ours with events off, ours with events on. */
export type HandlerImpl = 'original' | 'ours' | 'ours-events';

/** What a handler run measures: CPU (no latency, no cap), billed time (latency, cap), queue batches. */
export type HandlerPhase = 'cpu' | 'billed' | 'batch';

/** `handler-cost-worker.js JOB.json`: every run of bench/handler-cost.ts, one local endpoint. */
export interface HandlerCostJob {
  /** The handler bundle (a copy outside the repo, so `sharp` resolves from NODE_PATH = the layer). */
  readonly handlerPath: string;
  readonly driverPath: string;
  readonly layerPath: string;
  readonly python?: string;
  readonly originalPath: string;
  /** Upload bodies per size, cycled. */
  readonly sets: { readonly size: string; readonly files: string[] }[];
  /** Measured images per CPU run at each size (24 MP: a quarter, at least 5). */
  readonly images: number;
  readonly rounds: number;
  /** Warm-up images before each run's measured ones. */
  readonly warmup: number;
  /** The billed-time runs: under the simulated latency and each memory size's limits. */
  readonly billed?: {
    readonly sizes: string[];
    readonly images: number;
    readonly rounds: number;
    /** Our handler's memory sizes to model (events on), and those to run with events off too. */
    readonly memories: number[];
    readonly eventsOffMemories: number[];
    /** The original's memory size. */
    readonly originalMemory: number;
    /** Queue mode at this memory: batch sizes, each run with that many records at once. */
    readonly batchMemory: number;
    readonly batchSizes: number[];
    readonly batchImages: number;
    readonly seed: number;
  };
}

/** One line per run. Per-image figures are over the measured invocations. */
export interface HandlerCostRow {
  readonly phase: HandlerPhase;
  readonly round: number;
  readonly size: string;
  readonly impl: HandlerImpl;
  readonly memoryMb?: number;
  /** Queue mode: records per invocation, and the handler's `concurrency`. */
  readonly batch?: number;
  readonly concurrency?: number;
  readonly images: number;
  readonly cpuMsPerImage: number;
  /** Mean invocation duration per image, and Lambda's billed duration (each invocation rounded up to 1 ms) per image. */
  readonly wallMsPerImage: number;
  readonly billedMsPerImage: number;
  readonly initMs: number;
  readonly initCpuMs: number;
  /** The handler's own log output per image. */
  readonly logBytesPerImage: number;
  readonly logLinesPerImage: number;
  /** S3 and EventBridge requests per image, by operation (warm-up included). */
  readonly requestsPerImage: Record<string, number>;
  readonly failures: number;
  /** Whether the memory size's limits were applied (billed and batch runs), and how or why not. */
  readonly capped?: boolean;
  readonly how?: string;
}

/** `handler-driver.js JOB.json` and `original_handler.py JOB.json`. */
export interface DriverJob {
  readonly handlerPath: string;
  /** Events run before measuring. */
  readonly warmup: unknown[];
  /** Events measured, one invocation each. */
  readonly invocations: unknown[];
}

/** What a driver prints. */
export interface DriverResult {
  readonly initMs: number;
  readonly initCpuMs: number;
  readonly cpuMs: number;
  readonly durationsMs: number[];
  readonly logBytes: number;
  readonly logLines: number;
  readonly failures: number;
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

export type WorkerJob = CpuJob | HandlerCostJob | BurstJob | DriverJob;

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
