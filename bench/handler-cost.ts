/**
 * The whole handler against the original's whole handler, on the project's own S3 endpoint (the
 * worker: bench/handler-cost-worker.ts): CPU per image at each size in alternating rounds, and,
 * for the cost model, billed time under simulated latency and each memory size's limits, and
 * queue-mode batches. Measures; asserts nothing.
 */
import * as path from 'path';
import { JOBS, LAYER, ORIGINAL_HANDLER, PYTHON, median, nodeEnv, run, sizeName, type MachineInfo, type Options, type Workers } from './common';
import type { Inputs } from './inputs';
import { jsonLines, writeJob, type HandlerCostJob, type HandlerCostRow, type HandlerImpl } from './jobs';
import { DEFAULTS } from '../src/contract';

/** Memory sizes the cost model tries for our handler; the original ran at 128 MB. */
export const MODEL_MEMORY_MB = [128, 256, 512, 1024];
export const ORIGINAL_MEMORY_MB = 128;
export const BATCH_SIZES = [1, 5, 10];

export interface HandlerCost {
  readonly rows: HandlerCostRow[];
  readonly images: number;
  readonly rounds: number;
  readonly billedImages: number;
  readonly billedRounds: number;
  readonly batchMemory: number;
  /** The runs that did not print a result. */
  readonly errors: string;
}

/** Median of a field over the rows that match. */
export function med(rows: HandlerCostRow[], match: Partial<HandlerCostRow>, field: (r: HandlerCostRow) => number): number | undefined {
  const mine = rows.filter((r) => Object.entries(match).every(([k, v]) => (r as unknown as Record<string, unknown>)[k] === v));
  return mine.length ? median(mine.map(field)) : undefined;
}

export function medianRequests(rows: HandlerCostRow[], match: Partial<HandlerCostRow>): Record<string, number> {
  const mine = rows.filter((r) => Object.entries(match).every(([k, v]) => (r as unknown as Record<string, unknown>)[k] === v));
  const ops = [...new Set(mine.flatMap((r) => Object.keys(r.requestsPerImage)))];
  return Object.fromEntries(ops.map((op) => [op, median(mine.map((r) => r.requestsPerImage[op] ?? 0))]));
}

export function measureHandlerCost(workers: Workers, taskDir: string, inputs: Inputs, opts: Options, env: MachineInfo,
  withModel: boolean, batchMemory: number): HandlerCost {
  const original = env.pillow && env.boto3 ? PYTHON : undefined;
  const sets = inputs.sets.map((s) => ({ size: sizeName(s.size), files: s.files.map((f) => f.file) }));
  const small = sets.filter((s) => s.size !== '6000x4000').map((s) => s.size);
  const billedImages = 10;
  const billedRounds = Math.max(1, Math.min(2, opts.rounds));
  const job: HandlerCostJob = {
    handlerPath: path.join(taskDir, 'index.js'),
    driverPath: workers.handlerDriver,
    layerPath: LAYER,
    python: original,
    originalPath: ORIGINAL_HANDLER,
    sets,
    images: 40,
    rounds: opts.rounds,
    warmup: 5,
    billed: withModel ? {
      sizes: small,
      images: billedImages,
      rounds: billedRounds,
      memories: MODEL_MEMORY_MB,
      eventsOffMemories: [DEFAULTS.memorySizeMb],
      originalMemory: ORIGINAL_MEMORY_MB,
      batchMemory,
      batchSizes: BATCH_SIZES,
      batchImages: 20,
      seed: 20261126,
    } : undefined,
  };
  const jobFile = writeJob(path.join(JOBS, 'handler-cost.json'), job);
  // BENCH_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) goes to our handler's runs: to profile them.
  const extra: Record<string, string> = process.env.BENCH_NODE_OPTIONS ? { BENCH_NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {};
  const r = run(process.execPath, [workers.handlerCost, jobFile], { env: nodeEnv(extra), timeout: 40 * 60_000 });
  if (r.status !== 0) process.stderr.write(`bench: the handler-cost run ended with status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}\n`);
  const rows = jsonLines<HandlerCostRow>(r.stdout);
  return { rows, images: job.images, rounds: job.rounds, billedImages, billedRounds, batchMemory, errors: r.stderr ?? '' };
}

/** CPU ms per image of an implementation at a size: median, min and max of the rounds. */
export function cpuOf(h: HandlerCost, size: string, impl: HandlerImpl): { med: number; min: number; max: number; n: number } | undefined {
  const xs = h.rows.filter((r) => r.phase === 'cpu' && r.size === size && r.impl === impl).map((r) => r.cpuMsPerImage);
  if (!xs.length) return undefined;
  return { med: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/**
 * Ratios ours / original per round (each round's runs are back to back), then their median: the
 * ratio comes from the same rounds, not from two medians taken apart.
 */
export function ratioOf(h: HandlerCost, size: string, impl: HandlerImpl): number | undefined {
  const rounds = [...new Set(h.rows.filter((r) => r.phase === 'cpu').map((r) => r.round))];
  const ratios: number[] = [];
  for (const round of rounds) {
    const o = h.rows.find((r) => r.phase === 'cpu' && r.round === round && r.size === size && r.impl === 'original');
    const x = h.rows.find((r) => r.phase === 'cpu' && r.round === round && r.size === size && r.impl === impl);
    if (o && x) ratios.push(x.cpuMsPerImage / o.cpuMsPerImage);
  }
  return ratios.length ? median(ratios) : undefined;
}
