/**
 * What the handler costs per image beyond the transform (spawned by bench/handler-cost.ts; bundled
 * by esbuild, `sharp` external).
 *
 *   node handler-cost-worker.js JOB.json
 *
 * In rounds, with the same inputs:
 * - transform: `transformImage` with the handler's policy, in this process (the baseline);
 * - handler: one upload at a time through a LocalPipeline with one execution environment (the
 *   shipped handler bundle with the shipped layer), each upload waited for before the next, with
 *   EventBridge events on (the local default) and off. The CPU time of the environment's process
 *   per image is what the function spends on GetObject, the transform, PutObject, PutEvents and its
 *   log lines; the CPU time of this process is the embedded S3 endpoint, the events sink, the pool
 *   and the uploading client.
 * Prints one JSON line per measurement on stdout. Measures; asserts nothing.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { cpuMs, processCpuMs } from './cpu-time';
import { emit, readJob, type HandlerCostJob, type HandlerCostRow } from './jobs';
import { startLocalRun } from './local-run';
import { validatePipelineConfig } from '../lambda-src/config';
import { configureSharp, memoryBudgetFor, transformImage } from '../lambda-src/transform';

type Job = HandlerCostJob;
type Row = Omit<HandlerCostRow, 'round'>;

function childPids(): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(process.pid), 'node']).toString();
  } catch {
    return [];
  }
  return out.split('\n').filter(Boolean).map(Number).filter((p) => fs.existsSync(`/proc/${p}/stat`));
}

async function transformRound(job: Job, bodies: Buffer[]): Promise<Row> {
  const policy = { ...validatePipelineConfig({ outputBucket: 'o' }), memoryBudgetBytes: memoryBudgetFor(1769) };
  for (const b of bodies) await transformImage(b, policy);
  const c0 = cpuMs();
  const t0 = Date.now();
  for (let i = 0; i < job.images; i++) await transformImage(bodies[i % bodies.length], policy);
  return { what: 'transform', images: job.images, cpuMsPerImage: (cpuMs() - c0) / job.images, wallMsPerImage: (Date.now() - t0) / job.images };
}

async function handlerRound(job: Job, bodies: Buffer[], events: boolean): Promise<Row> {
  const { pipeline, s3, close } = await startLocalRun(job, 1, events ? {} : { events: null });
  const statuses: Record<string, number> = {};
  let waiting: ((status: string) => void) | undefined;
  pipeline.on('done', (d: { result?: { outcomes?: { status: string }[] } }) => waiting?.(d.result?.outcomes?.[0]?.status ?? 'none'));
  pipeline.on('failed', () => waiting?.('failure-queue'));
  const one = async (key: string, body: Buffer) => {
    const settled = new Promise<string>((resolve) => { waiting = resolve; });
    await s3.send(new PutObjectCommand({ Bucket: pipeline.inputBucket, Key: key, Body: body, ContentType: 'image/jpeg' }));
    return settled;
  };
  try {
    // Warm-up: the environment's cold start and each input once.
    for (let i = 0; i < bodies.length; i++) await one(`warmup/${i}.jpg`, bodies[i]);
    const workers = childPids();
    const w0 = workers.map(processCpuMs);
    const m0 = cpuMs();
    const t0 = Date.now();
    for (let i = 0; i < job.images; i++) {
      const status = await one(`run/${i}.jpg`, bodies[i % bodies.length]);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    const wall = Date.now() - t0;
    const workerCpu = workers.map((p, i) => processCpuMs(p) - w0[i]).reduce((a, b) => a + b, 0);
    return {
      what: events ? 'handler' : 'handler-no-events',
      images: job.images,
      environments: workers.length,
      cpuMsPerImage: workerCpu / job.images,
      localCpuMsPerImage: (cpuMs() - m0) / job.images,
      wallMsPerImage: wall / job.images,
      statuses,
    };
  } finally {
    await close();
  }
}

async function main(): Promise<void> {
  const job = readJob<Job>(process.argv[2]);
  const bodies = job.files.map((f) => fs.readFileSync(f));
  configureSharp(1);
  for (let round = 0; round < job.rounds; round++) {
    // Rotating order, so no measurement always runs first or last.
    const steps = [
      () => transformRound(job, bodies),
      () => handlerRound(job, bodies, true),
      () => handlerRound(job, bodies, false),
    ];
    for (let k = 0; k < steps.length; k++) {
      const r = await steps[(k + round) % steps.length]();
      emit<HandlerCostRow>({ round, ...r });
    }
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
