/**
 * Local-mode burst (spawned by bench/burst.ts; bundled by esbuild, `sharp` external).
 *
 *   node burst-worker.js JOB.json
 *
 * For each batch size: a fresh LocalPipeline (embedded S3 on loopback + local Lambda pool running
 * the shipped handler bundle with the shipped sharp layer), a warm-up upload per execution
 * environment so both are past their cold start, then N uploads with the AWS SDK as fast as a
 * bounded number of concurrent PutObjects allows. Latency of an upload: PutObject start to the
 * pipeline's `done` (or `failed`) event for its key. Uploads with neither within the deadline are
 * counted lost. Prints one JSON line per batch on stdout. Measures; asserts nothing.
 */
import * as fs from 'fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { emit, readJob, type BurstBatch, type BurstJob } from './jobs';
import { startLocalRun } from './local-run';
import type { InvocationDone, InvocationFailed } from '../lambda-src/local/lambda/lambda-pool';
import type { RecordOutcome } from '../lambda-src/processor';

type Job = BurstJob;

interface Track {
  started?: number;
  uploaded?: number;
  ended?: number;
  status?: string;
}

function keyOf(record: { s3: { object: { key: string } } }): string {
  return decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
}

async function batch(job: Job, bodies: Buffer[], n: number): Promise<BurstBatch> {
  const { pipeline, s3, close } = await startLocalRun(job, job.concurrency);

  const tracks = new Map<string, Track>();
  let current = new Set<string>();
  let left = 0;
  let allSettled: () => void = () => undefined;
  const settle = (key: string, status: string) => {
    const t = tracks.get(key);
    if (!t || t.ended !== undefined || !current.has(key)) return;
    t.ended = Date.now();
    t.status = status;
    if (--left === 0) allSettled();
  };
  pipeline.on('done', (d: InvocationDone) => {
    const outcomes = (d.result as { outcomes?: RecordOutcome[] } | null)?.outcomes ?? [];
    for (const o of outcomes) settle(o.key, o.status);
  });
  pipeline.on('failed', (f: InvocationFailed) => {
    for (const r of (f.event as { Records?: { s3: { object: { key: string } } }[] }).Records ?? []) settle(keyOf(r), 'failure-queue');
  });
  const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({
    Bucket: pipeline.inputBucket, Key: key, Body: body, ContentType: 'image/jpeg',
  }));
  const run = async (keys: string[], deadlineMs: number) => {
    left = keys.length;
    current = new Set(keys);
    for (const k of keys) tracks.set(k, {});
    const settled = new Promise<void>((resolve) => { allSettled = resolve; });
    let next = 0;
    let uploadErrors = 0;
    const uploader = async () => {
      while (next < keys.length) {
        const i = next++;
        const t = tracks.get(keys[i])!;
        t.started = Date.now();
        try {
          await put(keys[i], bodies[i % bodies.length]);
          t.uploaded = Date.now();
        } catch {
          uploadErrors++;
        }
      }
    };
    const t0 = Date.now();
    const uploads = Promise.all(Array.from({ length: Math.min(job.uploadConcurrency, keys.length) }, uploader));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([uploads, settled]),
      new Promise((r) => { timer = setTimeout(r, deadlineMs); }),
    ]);
    clearTimeout(timer);
    return { t0, uploadErrors };
  };

  // Warm-up: one upload per execution environment, so each is initialised before the burst.
  const warmKeys = Array.from({ length: job.concurrency }, (_, i) => `warmup/${i}.jpg`);
  await run(warmKeys, 60_000);
  const warmLost = warmKeys.filter((k) => tracks.get(k)?.ended === undefined).length;

  const keys = Array.from({ length: n }, (_, i) => `burst/${String(i).padStart(5, '0')}.jpg`);
  const deadlineMs = job.deadlineBaseMs + job.deadlinePerImageMs * n;
  const { t0, uploadErrors } = await run(keys, deadlineMs);
  const rows = keys.map((k) => tracks.get(k)!);
  const ended = rows.filter((r) => r.ended !== undefined);
  const latencies = ended.map((r) => r.ended! - r.started!).sort((a, b) => a - b);
  const uploadMs = rows.filter((r) => r.uploaded !== undefined).map((r) => r.uploaded! - r.started!).sort((a, b) => a - b);
  const lastEnd = Math.max(...ended.map((r) => r.ended!));
  const lastUpload = Math.max(t0, ...rows.map((r) => r.uploaded ?? 0));
  const statuses: Record<string, number> = {};
  for (const r of rows) statuses[r.status ?? 'lost'] = (statuses[r.status ?? 'lost'] ?? 0) + 1;

  await close();
  return {
    n,
    warmLost,
    uploadErrors,
    settled: ended.length,
    lost: n - ended.length,
    statuses,
    deadlineMs,
    wallMs: ended.length ? lastEnd - t0 : null,
    uploadWallMs: lastUpload - t0,
    throughput: ended.length ? ended.length / ((lastEnd - t0) / 1000) : 0,
    latencyMs: latencies,
    uploadMs: { p50: pct(uploadMs, 0.5), p99: pct(uploadMs, 0.99) },
  };
}

function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const job = readJob<Job>(process.argv[2]);
  const bodies = job.files.map((f) => fs.readFileSync(f));
  for (const n of job.sizes) {
    emit<BurstBatch>(await batch(job, bodies, n));
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(2);
});
