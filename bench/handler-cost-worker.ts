/**
 * The whole handler against the original's whole handler on one local S3 endpoint (spawned by
 * bench/handler-cost.ts; bundled by esbuild, `sharp` external).
 *
 *   node handler-cost-worker.js JOB.json
 *
 * This process serves S3 (the project's own endpoint, lambda-src/local/s3) and EventBridge
 * PutEvents (a minimal stand-in that accepts every entry), and counts their requests. Each run is
 * one execution environment in a process of its own: bench/handler-driver.js (ours: the shipped
 * bundle with the shipped layer) or bench/original_handler.py (the original's handler, Debian's
 * python3 with python3-boto3 and python3-pil). Every run writes to an output bucket of its own, so
 * every output is new, as for a first upload. Phases:
 * - cpu: no latency, no limits; the CPU time of the environment's process per image, at each
 *   size, in alternating rounds (the order rotates each round);
 * - billed: under the simulated S3 and EventBridge latency (lambda-src/local/s3/latency.ts) and
 *   the limits of each memory size (bench/lambda-limits.ts): each invocation's duration, which
 *   Lambda bills, and the init;
 * - batch: queue mode at one memory size, SQS batches of 1, 5 and 10 records with the handler's
 *   `concurrency` equal to the batch size: billed time per image.
 * Prints one JSON line per run on stdout. Measures; asserts nothing.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { emit, readJob, type DriverJob, type DriverResult, type HandlerCostJob, type HandlerCostRow, type HandlerImpl, type HandlerPhase } from './jobs';
import { spawnLimited } from './lambda-limits';
import { EVENTS_LATENCY, Latency, S3_LATENCY } from '../lambda-src/local/s3/latency';
import { S3Server } from '../lambda-src/local/s3/server';
import { s3EventRecord } from '../lambda-src/s3-event';

const INPUT = 'input';

interface Uploaded {
  readonly key: string;
  readonly size: number;
  readonly eTag: string;
  readonly sequencer: string;
}

/** Requests by operation, counted as they arrive. */
class Counter {
  counts: Record<string, number> = {};
  add(op: string): void {
    this.counts[op] = (this.counts[op] ?? 0) + 1;
  }
  take(): Record<string, number> {
    const c = this.counts;
    this.counts = {};
    return c;
  }
}

function s3Operation(req: http.IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean);
  const method = req.method ?? 'GET';
  if (parts.length < 2) return method === 'GET' ? 'ListObjects' : `${method} bucket`;
  return { GET: 'GetObject', PUT: 'PutObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[method] ?? `${method} object`;
}

/** A PutEvents stand-in: accepts every entry, after the simulated latency when there is one. */
async function startEvents(counter: Counter, latency: () => Latency | undefined): Promise<{ endpoint: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      counter.add('PutEvents');
      const n = ((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries?: unknown[] }).Entries ?? []).length;
      const text = JSON.stringify({ FailedEntryCount: 0, Entries: Array.from({ length: n }, (_, i) => ({ EventId: `e-${Date.now()}-${i}` })) });
      const l = latency();
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      }, l ? l.firstByteMs() : 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, close: () => server.close() };
}

async function main(): Promise<void> {
  const job = readJob<HandlerCostJob>(process.argv[2]);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-handler-bench-'));
  const counter = new Counter();
  // The latency applies only while a billed or batch run is under way.
  let latencyOn = false;
  const s3Latency = new Latency(S3_LATENCY, job.billed?.seed ?? 1);
  const eventsLatency = new Latency(EVENTS_LATENCY, (job.billed?.seed ?? 1) + 1);
  // The endpoint's latency hook, switched on per run.
  const server = new S3Server({ dataDir, buckets: [INPUT], get latency() { return latencyOn ? s3Latency : undefined; } });
  const endpoint = await server.start();
  (server as unknown as { server: http.Server }).server.on('request', (req: http.IncomingMessage) => counter.add(s3Operation(req)));
  const events = await startEvents(counter, () => (latencyOn ? eventsLatency : undefined));
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  // Inputs: each size's files cycled over enough keys for the largest run.
  let sequencer = 0x1000;
  const uploaded = new Map<string, Uploaded[]>();
  const keysFor = (size: string) => {
    const set = job.sets.find((s) => s.size === size)!;
    const big = isBig(size);
    const billedImages = job.billed?.sizes.includes(size) ? Math.max(job.billed.images, job.billed.batchImages) : 0;
    return Math.max(job.warmup + (big ? bigImages(job.images) : job.images), job.warmup + billedImages, set.files.length);
  };
  for (const set of job.sets) {
    const list: Uploaded[] = [];
    const bodies = set.files.map((f) => fs.readFileSync(f));
    for (let i = 0; i < keysFor(set.size); i++) {
      const key = `${set.size}/photo ${String(i).padStart(3, '0')}.jpg`;
      const body = bodies[i % bodies.length];
      const res = await client.send(new PutObjectCommand({ Bucket: INPUT, Key: key, Body: body, ContentType: 'image/jpeg' }));
      list.push({ key, size: body.length, eTag: (res.ETag ?? '').replace(/"/g, ''), sequencer: (sequencer++).toString(16).toUpperCase().padStart(18, '0') });
    }
    uploaded.set(set.size, list);
  }
  counter.take();

  let runId = 0;
  const jobsDir = path.join(dataDir, 'jobs');
  fs.mkdirSync(jobsDir);

  const s3Event = (bucket: string, objects: Uploaded[]) => ({
    Records: objects.map((o) => s3EventRecord({ bucket, key: o.key, size: o.size, eTag: o.eTag, sequencer: o.sequencer })),
  });
  const sqsEvent = (bucket: string, objects: Uploaded[]) => ({
    Records: objects.map((o, i) => ({
      messageId: `m-${runId}-${i}`,
      receiptHandle: `r-${runId}-${i}`,
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:uploads',
      awsRegion: 'us-east-1',
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      body: JSON.stringify(s3Event(bucket, [o])),
    })),
  });

  async function runOne(o: {
    phase: HandlerPhase; round: number; size: string; impl: HandlerImpl; images: number; memoryMb?: number; batch?: number;
  }): Promise<void> {
    const id = runId++;
    const outputBucket = `out-${id}`;
    server.createBucket(outputBucket);
    const objects = uploaded.get(o.size)!;
    const warm = objects.slice(0, job.warmup);
    const measured = objects.slice(job.warmup, job.warmup + o.images);
    const batch = o.batch ?? 1;
    const group = (list: Uploaded[]) => {
      const out: Uploaded[][] = [];
      for (let i = 0; i < list.length; i += batch) out.push(list.slice(i, i + batch));
      return out;
    };
    const event = o.batch ? sqsEvent : s3Event;
    const driverJob: DriverJob = {
      handlerPath: job.handlerPath,
      warmup: group(warm).map((g) => event(INPUT, g)),
      invocations: group(measured).map((g) => event(INPUT, g)),
    };
    const jobFile = path.join(jobsDir, `${id}.json`);
    fs.writeFileSync(jobFile, JSON.stringify(driverJob));
    const lambdaEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? os.tmpdir(),
      LANG: 'C.UTF-8',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      // As long as the names CDK gives functions (the metric's Pipeline dimension is in every log line).
      AWS_LAMBDA_FUNCTION_NAME: 'Images-ImagesProcessor4C1B2E7F-AbCdEfGh1234',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(o.memoryMb ?? 1769),
    };
    let cmd: string;
    let args: string[];
    let env: NodeJS.ProcessEnv;
    if (o.impl === 'original') {
      cmd = job.python!;
      args = [job.originalPath, jobFile];
      env = { ...lambdaEnv, PATH: '/usr/bin:/bin', BENCH_S3_ENDPOINT: endpoint, OUTPUT_BUCKET: outputBucket };
    } else {
      const config = {
        inputBucket: INPUT,
        outputBucket,
        ...(o.impl === 'ours-events' ? { events: { eventBusName: 'default' } } : {}),
        ...(o.batch ? { concurrency: o.batch } : {}),
      };
      cmd = process.execPath;
      const nodeOptions = process.env.BENCH_NODE_OPTIONS && o.phase === 'cpu' ? process.env.BENCH_NODE_OPTIONS.split(' ').filter(Boolean) : [];
      args = [...nodeOptions, job.driverPath, jobFile];
      env = {
        ...lambdaEnv,
        NODE_PATH: job.layerPath,
        PIPELINE_CONFIG: JSON.stringify(config),
        PIPELINE_S3_ENDPOINT: endpoint,
        PIPELINE_EVENTS_ENDPOINT: events.endpoint,
      };
    }
    latencyOn = o.phase !== 'cpu';
    counter.take();
    const r = await spawnLimited(o.phase === 'cpu' ? undefined : o.memoryMb, cmd, args, { env, cwd: path.dirname(job.handlerPath) });
    latencyOn = false;
    const requests = counter.take();
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status !== 0 || !line) {
      process.stderr.write(`run ${id} (${o.phase} ${o.impl} ${o.size}${o.memoryMb ? ` ${o.memoryMb} MB` : ''}) ended with ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-1500)}\n`);
      return;
    }
    const d = JSON.parse(line) as DriverResult;
    const total = warm.length + measured.length;
    const n = measured.length;
    emit<HandlerCostRow>({
      phase: o.phase,
      round: o.round,
      size: o.size,
      impl: o.impl,
      memoryMb: o.memoryMb,
      batch: o.batch,
      concurrency: o.batch,
      images: n,
      cpuMsPerImage: d.cpuMs / n,
      wallMsPerImage: d.durationsMs.reduce((a, b) => a + b, 0) / n,
      billedMsPerImage: d.durationsMs.reduce((a, b) => a + Math.ceil(b), 0) / n,
      initMs: d.initMs,
      initCpuMs: d.initCpuMs,
      logBytesPerImage: d.logBytes / n,
      logLinesPerImage: d.logLines / n,
      requestsPerImage: Object.fromEntries(Object.entries(requests).map(([k, v]) => [k, v / total])),
      failures: d.failures,
      capped: o.phase === 'cpu' ? undefined : r.applied,
      how: o.phase === 'cpu' ? undefined : r.how,
    });
  }

  const impls: HandlerImpl[] = job.python ? ['original', 'ours', 'ours-events'] : ['ours', 'ours-events'];
  for (let round = 0; round < job.rounds; round++) {
    for (const set of job.sets) {
      const images = isBig(set.size) ? bigImages(job.images) : job.images;
      for (let k = 0; k < impls.length; k++) {
        await runOne({ phase: 'cpu', round, size: set.size, impl: impls[(k + round) % impls.length], images });
      }
    }
  }
  const billed = job.billed;
  if (billed) {
    for (let round = 0; round < billed.rounds; round++) {
      for (const size of billed.sizes) {
        const runs: { impl: HandlerImpl; memoryMb: number }[] = [
          ...(job.python ? [{ impl: 'original' as const, memoryMb: billed.originalMemory }] : []),
          ...billed.eventsOffMemories.map((m) => ({ impl: 'ours' as const, memoryMb: m })),
          ...billed.memories.map((m) => ({ impl: 'ours-events' as const, memoryMb: m })),
        ];
        for (let k = 0; k < runs.length; k++) {
          const x = runs[(k + round) % runs.length];
          await runOne({ phase: 'billed', round, size, impl: x.impl, memoryMb: x.memoryMb, images: billed.images });
        }
        for (const b of billed.batchSizes) {
          await runOne({ phase: 'batch', round, size, impl: 'ours', memoryMb: billed.batchMemory, batch: b, images: billed.batchImages });
        }
      }
    }
  }
  events.close();
  client.destroy();
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function isBig(size: string): boolean {
  const [w, h] = size.split('x').map(Number);
  return w * h > 20e6;
}

function bigImages(images: number): number {
  return Math.max(5, Math.round(images / 4));
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
