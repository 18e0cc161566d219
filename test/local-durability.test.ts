/**
 * Durable like S3: an upload acknowledged with 200 is never lost. `serve` killed with SIGKILL (with
 * its workers) during a burst and started again on the same data folder ends every acknowledged
 * upload exactly once; a stop drains with the endpoint still serving the handler, and what it
 * could not finish runs at the next start instead of going to the failure queue.
 * The kill points are chosen by what the process has printed or acknowledged, never by a timer.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { endings, failureQueueKeys, s3Client, startServe } from './serve-process';
import { shippedAssets } from '../lambda-src/local/assets';
import type { InvocationDone, InvocationFailed } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline, type LocalPipelineOptions } from '../lambda-src/local/local-pipeline';

jest.setTimeout(180_000);

let tmp: string;
let bodies: Buffer[];
beforeAll(async () => {
  bodies = await Promise.all(Array.from({ length: 4 }, (_, i) => sharp({
    create: { width: 320, height: 240, channels: 3, background: { r: 40 * i, g: 120, b: 200 - 30 * i } },
  }).jpeg().toBuffer()));
});
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'durability-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** 60 uploads, every 10th one not an image (it ends as a failure record). */
function burst(): { key: string; body: Buffer }[] {
  return Array.from({ length: 60 }, (_, i) => (i % 10 === 9
    ? { key: `burst/bad-${String(i).padStart(2, '0')}.jpg`, body: Buffer.from(`not an image ${i}`) }
    : { key: `burst/img-${String(i).padStart(2, '0')}.jpg`, body: bodies[i % bodies.length] }));
}

/**
 * Uploads with `concurrency` at once and returns the keys acknowledged with 200; `onAck` sees each
 * acknowledgement as it comes (and may kill the server: the uploads then under way fail).
 */
async function upload(s3: S3Client, uploads: { key: string; body: Buffer }[], concurrency: number,
  onAck?: (count: number) => void): Promise<string[]> {
  const acknowledged: string[] = [];
  let next = 0;
  let stopped = false;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < uploads.length && !stopped) {
      const u = uploads[next++];
      try {
        await s3.send(new PutObjectCommand({ Bucket: 'input', Key: u.key, Body: u.body }));
      } catch {
        stopped = true;
        continue;
      }
      acknowledged.push(u.key);
      onAck?.(acknowledged.length);
    }
  }));
  return acknowledged;
}

/** Polls the restarted server's state until every key has ended, or `ms` pass. */
async function settled(s3: S3Client, dataDir: string, keys: string[], ms = 60_000): Promise<Map<string, string[]>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const e = await endings(s3, dataDir, keys);
    if ([...e.values()].every((ways) => ways.length > 0) || Date.now() > deadline) return e;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Restarts serve on `dataDir`, waits for every acknowledged key to end, stops it with SIGINT. */
async function restartAndAccount(dataDir: string, acknowledged: string[]) {
  const { served, endpoint } = await startServe(['--data', dataDir]);
  const s3 = s3Client(endpoint);
  try {
    const e = await settled(s3, dataDir, acknowledged);
    const lost = [...e].filter(([, ways]) => ways.length === 0).map(([k]) => k);
    const twice = [...e].filter(([, ways]) => ways.length > 1).map(([k]) => k);
    return { lost, twice, queued: failureQueueKeys(dataDir) };
  } finally {
    served.child.kill('SIGINT');
    expect((await served.exited).code).toBe(0);
    s3.destroy();
  }
}

describe('serve killed with SIGKILL, then started again on the same data folder', () => {
  const ended = /^(processed|rejected) /;
  test.each([
    ['during the uploads, at the first acknowledgement', { acks: 1 }],
    ['during the uploads, after 20 were acknowledged', { acks: 20 }],
    ['at the 60th acknowledgement, before processing', { acks: 60 }],
    ['while processing, after its first processed line', { lines: 1 }],
    ['while processing, after 30 uploads ended', { lines: 30 }],
  ])('killed %s: every acknowledged upload ends once', async (_, at: { acks?: number; lines?: number }) => {
    const dataDir = path.join(tmp, 'data');
    const { served, endpoint } = await startServe(['--data', dataDir]);
    const s3 = s3Client(endpoint);
    let acknowledged: string[];
    try {
      acknowledged = await upload(s3, burst(), 6, (n) => {
        if (n === at.acks) served.killGroup();
      });
      if (at.lines) {
        expect(acknowledged).toHaveLength(60);
        await served.waitForLines(ended, at.lines);
      }
    } finally {
      served.killGroup();
      s3.destroy();
    }
    expect((await served.exited).signal).toBe('SIGKILL');
    expect(acknowledged.length).toBeGreaterThanOrEqual(at.acks ?? 60);
    const endedBefore = served.stdout.split('\n').filter((l) => ended.test(l)).length;

    const r = await restartAndAccount(dataDir, acknowledged);
    process.stdout.write(`killed ${_}: ${acknowledged.length} acknowledged, ${endedBefore} ended before the kill; `
      + `after the restart ${acknowledged.length - r.lost.length} accounted for, ${r.lost.length} lost, ${r.twice.length} twice\n`);
    expect(r.lost).toEqual([]);
    expect(r.twice).toEqual([]);
    expect(r.queued).toEqual([]);
  });

  test('an event whose failure-queue record was written just before a crash is not run again', async () => {
    // GIVEN: the state a crash leaves between the record and the journal entry's removal
    const dataDir = path.join(tmp, 'data');
    const { served } = await startServe(['--data', dataDir]);
    served.child.kill('SIGINT');
    expect((await served.exited).code).toBe(0);
    const id = '11111111-2222-4333-8444-555555555555';
    const event = { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'input' }, object: { key: 'queued.jpg', size: 1 } } }] };
    fs.writeFileSync(path.join(dataDir, '.journal', `000000000000001-000000-${id}.json`), JSON.stringify({ id, enqueuedAt: Date.now(), event }));
    fs.writeFileSync(path.join(dataDir, 'failure-queue', `2030-01-01T00-00-00-000Z-${id}.json`),
      JSON.stringify({ requestContext: { requestId: id }, requestPayload: event }));
    // and one entry to replay, written by a crash half-way (.tmp): never acknowledged, dropped
    fs.writeFileSync(path.join(dataDir, '.journal', `000000000000002-000000-${id.replace(/1/g, '9')}.json.tmp`), '{"id":');

    // WHEN
    const again = await startServe(['--data', dataDir]);
    again.served.child.kill('SIGINT');
    expect((await again.served.exited).code).toBe(0);

    // THEN
    expect(again.served.stdout).not.toMatch(/replaying/);
    expect(failureQueueKeys(dataDir)).toEqual(['queued.jpg']);
    expect(fs.readdirSync(path.join(dataDir, '.journal'))).toEqual([]);
  });
});

describe('serve stopped with Ctrl-C', () => {
  test('with 60 uploads just acknowledged: none goes to the failure queue, and every one ends once', async () => {
    const dataDir = path.join(tmp, 'data');
    const { served, endpoint } = await startServe(['--data', dataDir]);
    const s3 = s3Client(endpoint);
    const acknowledged = await upload(s3, burst(), 6, (n) => {
      if (n === 60) served.child.kill('SIGINT');
    });
    s3.destroy();
    expect(acknowledged).toHaveLength(60);
    expect((await served.exited).code).toBe(0);
    expect(served.stdout).toMatch(/^stopped/m);
    expect(failureQueueKeys(dataDir)).toEqual([]);

    const r = await restartAndAccount(dataDir, acknowledged);
    expect(r.lost).toEqual([]);
    expect(r.twice).toEqual([]);
    expect(r.queued).toEqual([]);
  });
});

describe('stopping the local pipeline', () => {
  /** A handler that logs "started <key>" and then holds until the file `release` exists. */
  function heldHandler(): string {
    const file = path.join(tmp, 'held.js');
    fs.writeFileSync(file, `
      const fs = require('fs');
      exports.handler = async (event) => {
        const key = decodeURIComponent(event.Records[0].s3.object.key.replace(/\\+/g, ' '));
        console.log('started ' + key);
        while (!fs.existsSync(${JSON.stringify(path.join(tmp, 'release'))})) await new Promise((r) => setTimeout(r, 20));
        return { outcomes: [{ status: 'processed', key, outputs: [], ms: 0 }] };
      };`);
    return file;
  }

  function pipelineWith(handlerPath: string | undefined, options: Partial<LocalPipelineOptions> = {}) {
    const pipeline = new LocalPipeline({
      dataDir: path.join(tmp, 'data'),
      concurrency: 1,
      retryDelaysMs: [50, 100],
      ...(handlerPath ? { assets: { ...shippedAssets(), handlerPath } } : {}),
      ...options,
    });
    const done: string[] = [];
    const failed: InvocationFailed[] = [];
    const logs: string[] = [];
    pipeline.on('done', (d: InvocationDone) => done.push(...(d.result as { outcomes: { key: string }[] }).outcomes.map((o) => o.key)));
    pipeline.on('failed', (f: InvocationFailed) => failed.push(f));
    pipeline.on('log', (line: string) => logs.push(line));
    return { pipeline, done, failed, logs };
  }

  test('with the shipped handler: the endpoint serves the handler until the queued events are done', async () => {
    const { pipeline, done, failed } = pipelineWith(undefined);
    const s3 = s3Client(await pipeline.start());
    const uploads = burst().filter((u) => u.key.includes('img')).slice(0, 24);
    expect(await upload(s3, uploads, 4)).toHaveLength(24);

    // WHEN: stopped with the events still queued, and grace enough for them
    await pipeline.stop(120_000);
    s3.destroy();

    // THEN
    expect(failed.map((f) => f.record.responsePayload.errorMessage)).toEqual([]);
    expect(fs.readdirSync(pipeline.failureQueueDir)).toEqual([]);
    expect(done.sort()).toEqual(uploads.map((u) => u.key).sort());
  });

  test('what the grace period does not cover stays for the next start, not the failure queue, including an upload acknowledged while stopping', async () => {
    // GIVEN: ten uploads, the first held in the handler
    const first = pipelineWith(heldHandler());
    const s3 = s3Client(await first.pipeline.start());
    const keys = Array.from({ length: 10 }, (_, i) => `held-${i}.jpg`);
    const started = new Promise<void>((resolve) => first.pipeline.on('log', (l: string) => l.includes('started held-') && resolve()));
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: Buffer.from('x') }));
    await started;

    // WHEN: stopped with a short grace; an upload is acknowledged while it stops
    const stopping = first.pipeline.stop(300);
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'during-stop.jpg', Body: Buffer.from('x') }));
    await stopping;
    s3.destroy();

    // THEN: nothing in the failure queue, nothing finished
    expect(first.failed).toEqual([]);
    expect(fs.readdirSync(first.pipeline.failureQueueDir)).toEqual([]);
    expect(first.done).toEqual([]);

    // WHEN: started again, with the handler released
    fs.writeFileSync(path.join(tmp, 'release'), '');
    const second = pipelineWith(heldHandler());
    await second.pipeline.start();
    const deadline = Date.now() + 30_000;
    while (second.done.length < keys.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await second.pipeline.idle();
    await second.pipeline.stop(5_000);

    // THEN: each ran once, the one acknowledged while stopping too
    expect(second.done.sort()).toEqual([...keys, 'during-stop.jpg'].sort());
    expect(second.failed).toEqual([]);
  });
});
