/**
 * Nothing lost, nothing duplicated: a burst of 1000 uploads (10% bad, 5% duplicates) through the
 * local mode, and the same with the S3 endpoint stopped and restarted in the middle. Bounded in
 * time, on 127.0.0.1 only.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { listAll } from './serve-process';
import type { InvocationDone, InvocationFailed } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';
import type { RecordOutcome } from '../lambda-src/processor';

jest.setTimeout(240_000);

interface Upload {
  readonly key: string;
  readonly body: Buffer;
  readonly bad: boolean;
}

let tmp: string;
let goodBodies: Buffer[];
let badBodies: Buffer[];

beforeAll(async () => {
  goodBodies = await Promise.all(Array.from({ length: 8 }, (_, i) => sharp({
    create: { width: 320, height: 240, channels: 3, background: { r: 30 * i, g: 200 - 20 * i, b: 90 }, noise: { type: 'gaussian', mean: 100, sigma: 20 + i } },
  }).jpeg().toBuffer()));
  badBodies = [
    Buffer.alloc(0),
    Buffer.from('<!DOCTYPE html><html><body>not found</body></html>'),
    goodBodies[0].subarray(0, 700),
    Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)),
  ];
});

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** 1000 uploads: every 10th is bad, and 50 keys are uploaded a second time. */
function plan(): Upload[] {
  const uploads: Upload[] = [];
  for (let i = 0; i < 950; i++) {
    const bad = i % 10 === 9;
    uploads.push({ key: `burst/${bad ? 'bad' : 'img'}-${String(i).padStart(4, '0')}.jpg`, body: bad ? badBodies[i % badBodies.length] : goodBodies[i % goodBodies.length], bad });
  }
  for (let i = 0; i < 50; i++) uploads.push(uploads[i * 19]);
  return uploads;
}

async function uploadAll(s3: S3Client, uploads: Upload[], concurrency: number, onEach?: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < uploads.length) {
      const i = next++;
      await onEach?.(i);
      // An upload counts once S3 has acknowledged it; one refused while the endpoint is down is sent again.
      for (let attempt = 0; ; attempt++) {
        try {
          await s3.send(new PutObjectCommand({ Bucket: 'input', Key: uploads[i].key, Body: uploads[i].body }));
          break;
        } catch (e) {
          if (attempt > 40) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }));
}

async function runBurst(options: { retryDelaysMs: number[]; fault?: (pipeline: LocalPipeline, i: number) => Promise<void> }) {
  const pipeline = new LocalPipeline({ dataDir: path.join(tmp, 'data'), concurrency: 2, retryDelaysMs: options.retryDelaysMs });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1,
  });
  const outcomes: RecordOutcome[] = [];
  const invocations: InvocationDone[] = [];
  const failed: InvocationFailed[] = [];
  pipeline.on('done', (d: InvocationDone) => {
    invocations.push(d);
    outcomes.push(...((d.result as { outcomes?: RecordOutcome[] }).outcomes ?? []));
  });
  pipeline.on('failed', (f: InvocationFailed) => failed.push(f));
  let invoked = 0;
  pipeline.on('invoke', () => invoked++);
  const uploads = plan();
  try {
    await uploadAll(s3, uploads, 16, options.fault ? (i) => options.fault!(pipeline, i) : undefined);
    const deadline = Date.now() + 150_000;
    while (invocations.length + failed.length < Math.max(invoked, uploads.length) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await pipeline.idle();
    return { uploads, outcomes, failed, invocations, invoked, outputs: await listAll(s3, 'output'), failureQueue: fs.readdirSync(pipeline.failureQueueDir) };
  } finally {
    await pipeline.stop(5_000);
    s3.destroy();
  }
}

function expectNothingLostNothingDuplicated(r: Awaited<ReturnType<typeof runBurst>>) {
  const distinct = [...new Set(r.uploads.map((u) => u.key))];
  const good = distinct.filter((k) => !k.includes('/bad-'));
  const bad = distinct.filter((k) => k.includes('/bad-'));
  expect(distinct).toHaveLength(950);
  expect(bad).toHaveLength(95);

  // every good key has exactly its one output, every bad key exactly its failure record, nothing else
  const expected = [
    ...good.map((k) => `grayscale-256/${k}`),
    ...bad.map((k) => `_failed/${k}.json`),
  ].sort();
  expect(r.outputs).toEqual(expected);

  // every event S3 sent (one per acknowledged upload, duplicates included; one more for a put
  // the client had to send again) was handled: processed, rejected, or queued
  expect(r.invoked).toBeGreaterThanOrEqual(r.uploads.length);
  expect(r.outcomes.length + r.failed.length).toBe(r.invoked);
  expect([...new Set(r.outcomes.filter((o) => o.status === 'rejected').map((o) => o.key))].sort()).toEqual(bad.sort());
  expect([...new Set(r.outcomes.filter((o) => o.status === 'processed').map((o) => o.key))].sort()).toEqual(good.sort());
}

test('a burst of 1000 uploads, 10% bad and 5% duplicates: each ends as its output or its failure record', async () => {
  const r = await runBurst({ retryDelaysMs: [200, 400] });
  expectNothingLostNothingDuplicated(r);
  expect(r.invoked).toBe(1000);
  expect(r.failed).toEqual([]);
  expect(r.failureQueue).toEqual([]);
});

test('the S3 endpoint stopped for a second mid-burst and restarted: retries bring every upload through', async () => {
  let faulted = false;
  const r = await runBurst({
    retryDelaysMs: [1500, 3000],
    fault: async (pipeline, i) => {
      if (i === 400 && !faulted) {
        faulted = true;
        await pipeline.server.stop();
        await new Promise((res) => setTimeout(res, 1000));
        await pipeline.server.start();
      }
    },
  });
  expect(faulted).toBe(true);
  // the outage did hit the handler: some invocations needed more than one attempt
  expect(r.invocations.filter((d) => d.attempts > 1).length).toBeGreaterThan(0);
  // handler invocations that hit the stopped endpoint were retried, not lost
  expectNothingLostNothingDuplicated(r);
  expect(r.failureQueue).toEqual([]);
});
