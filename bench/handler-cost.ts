/**
 * The handler's CPU per image beyond the transform: `transformImage` in the measuring process
 * against one upload at a time through a LocalPipeline, events on and off (the worker:
 * bench/handler-cost-worker.ts).
 */
import * as path from 'path';
import { JOBS, LAYER, LOCAL_WORKER, median, nodeEnv, run, type Options, type Workers } from './common';
import { originalSizesCycled, type Inputs } from './inputs';
import { jsonLines, writeJob, type HandlerCostJob, type HandlerCostRow, type HandlerCostWhat } from './jobs';

export interface HandlerCostSummary {
  readonly rounds: number;
  readonly images: number;
  /** CPU ms per image: median, min and max of the rounds. */
  readonly cpu: number;
  readonly cpuMin: number;
  readonly cpuMax: number;
  /** CPU ms per image of the measuring process (handler rounds). */
  readonly local?: number;
  readonly wall: number;
  /** Outcome counts over all rounds. */
  readonly outcomes: Record<string, number>;
}

export type HandlerCost = Partial<Record<HandlerCostWhat, HandlerCostSummary>>;

export function measureHandlerCost(workers: Workers, taskDir: string, inputs: Inputs, opts: Options): HandlerCost {
  const job: HandlerCostJob = {
    files: originalSizesCycled(inputs),
    images: 150,
    rounds: opts.rounds,
    handlerPath: path.join(taskDir, 'index.js'),
    workerPath: LOCAL_WORKER,
    layerPath: LAYER,
  };
  const jobFile = writeJob(path.join(JOBS, 'handler-cost.json'), job);
  const r = run(process.execPath, [workers.handlerCost, jobFile], { env: nodeEnv(), timeout: 60_000 + opts.rounds * 120_000 });
  if (r.status !== 0) process.stderr.write(`bench: the handler-cost run ended with status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}\n`);
  const rows = jsonLines<HandlerCostRow>(r.stdout);
  const summary: HandlerCost = {};
  for (const what of ['transform', 'handler', 'handler-no-events'] as const) {
    const mine = rows.filter((x) => x.what === what);
    if (mine.length === 0) continue;
    const cpu = mine.map((x) => x.cpuMsPerImage);
    const outcomes: Record<string, number> = {};
    for (const x of mine) for (const [k, v] of Object.entries(x.statuses ?? {})) outcomes[k] = (outcomes[k] ?? 0) + v;
    summary[what] = {
      rounds: mine.length,
      images: mine[0].images,
      cpu: median(cpu),
      cpuMin: Math.min(...cpu),
      cpuMax: Math.max(...cpu),
      local: mine[0].localCpuMsPerImage === undefined ? undefined : median(mine.map((x) => x.localCpuMsPerImage!)),
      wall: median(mine.map((x) => x.wallMsPerImage)),
      outcomes,
    };
  }
  return summary;
}
