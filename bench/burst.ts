/**
 * Local-mode bursts: N uploads through a fresh LocalPipeline per burst, upload-to-output latency
 * and throughput (the worker: bench/burst-worker.ts).
 */
import * as path from 'path';
import { JOBS, LAYER, LOCAL_WORKER, nodeEnv, run, type Options, type Workers } from './common';
import { originalSizesCycled, type Inputs } from './inputs';
import { jsonLines, writeJob, type BurstBatch, type BurstJob } from './jobs';

export function measureBursts(workers: Workers, taskDir: string, inputs: Inputs, opts: Options): BurstBatch[] {
  const job: BurstJob = {
    sizes: opts.bursts,
    files: originalSizesCycled(inputs),
    concurrency: 2,
    uploadConcurrency: 32,
    handlerPath: path.join(taskDir, 'index.js'),
    workerPath: LOCAL_WORKER,
    layerPath: LAYER,
    // Bounded: a burst of 1000 gets 80 s (this machine does it in about 15).
    deadlineBaseMs: 20_000,
    deadlinePerImageMs: 60,
  };
  const jobFile = writeJob(path.join(JOBS, 'burst.json'), job);
  const budget = opts.bursts.reduce((t, n) => t + 60_000 + job.deadlineBaseMs + job.deadlinePerImageMs * n, 30_000);
  const r = run(process.execPath, [workers.burst, jobFile], { env: nodeEnv(), timeout: budget });
  const batches = jsonLines<BurstBatch>(r.stdout);
  if (r.status !== 0) process.stderr.write(`bench: the burst run ended with status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}\n`);
  return batches;
}
