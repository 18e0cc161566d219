/**
 * The local mode end to end: the embedded S3 endpoint, the shipped handler bundle and sharp
 * layer run as Lambda would run them, driven by real S3 clients (the SDK and the AWS CLI) and by
 * the `image-pipeline` command as a user runs it. Everything listens on 127.0.0.1.
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { AWS_CLI, testWithClient } from './clients';
import { shippedAssets } from '../lambda-src/local/assets';
import type { DeliveredEvent } from '../lambda-src/local/aws-api/event-bus';
import type { FailureDestinationRecord, InvocationDone, InvocationFailed } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline, type LocalPipelineOptions } from '../lambda-src/local/local-pipeline';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'assets', 'lambda-src', 'local', 'cli', 'index.js');
const run = promisify(execFile);

jest.setTimeout(60_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'local-mode-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'thing' } });
}

async function photo(width = 640, height = 480): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#3a7bd5', noise: { type: 'gaussian', mean: 120, sigma: 30 } } }).jpeg().toBuffer();
}

async function started(options: Partial<LocalPipelineOptions> = {}) {
  const pipeline = new LocalPipeline({ dataDir: path.join(tmp, 'data'), concurrency: 2, retryDelaysMs: [50, 100], ...options });
  const endpoint = await pipeline.start();
  const done: InvocationDone[] = [];
  const failed: InvocationFailed[] = [];
  const events: DeliveredEvent[] = [];
  pipeline.on('done', (d: InvocationDone) => done.push(d));
  pipeline.on('failed', (f: InvocationFailed) => failed.push(f));
  pipeline.on('event', (e: DeliveredEvent) => events.push(e));
  return { pipeline, endpoint, s3: client(endpoint), done, failed, events };
}

async function listAll(s3: S3Client, bucket: string): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (res.Contents ?? []).map((c) => c.Key!).sort();
}

async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function settle(pipeline: LocalPipeline, count: () => number, expected: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (count() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  await pipeline.idle();
}

describe('uploads through the S3 endpoint', () => {
  test('keys with spaces, + and unicode become one-channel 256x256 JPEGs, with events as S3 shapes them', async () => {
    // GIVEN
    const { pipeline, s3, done, events } = await started();
    const invoked: { Records: { s3: { object: { key: string }; bucket: { arn: string } } }[] }[] = [];
    pipeline.on('invoke', (e) => invoked.push(e));
    const keys = ['holiday photo.jpg', 'a+b.jpg', 'café/été ☀.jpg'];

    try {
      // WHEN
      for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: await photo() }));
      await settle(pipeline, () => done.length, keys.length);

      // THEN: the handler got S3's encoding of each key
      expect(invoked.map((e) => e.Records[0].s3.object.key).sort())
        .toEqual(['a%2Bb.jpg', 'caf%C3%A9/%C3%A9t%C3%A9+%E2%98%80.jpg', 'holiday+photo.jpg'].sort());
      expect(invoked[0].Records[0].s3.bucket.arn).toBe('arn:aws:s3:::input');
      const outputs = await listAll(s3, 'output');
      expect(outputs).toEqual(['grayscale-256/a+b.jpg', 'grayscale-256/café/été ☀.jpg', 'grayscale-256/holiday photo.jpg']);
      for (const key of outputs) {
        const meta = await sharp(await getBytes(s3, 'output', key)).metadata();
        expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 256, 256, 1]);
      }
      // and one ImageProcessed event each, on the local sink and in its file
      expect(events.map((e) => e['detail-type'])).toEqual(['ImageProcessed', 'ImageProcessed', 'ImageProcessed']);
      expect(pipeline.events.read().map((e) => e.detail.key).sort()).toEqual([...keys].sort());
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('a broken file ends as a failure record and an ImageRejected event, not in the failure queue', async () => {
    const { pipeline, s3, done, failed, events } = await started();
    try {
      const whole = await photo();
      const put = await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'broken.jpg', Body: whole.subarray(0, 1500) }));
      await settle(pipeline, () => done.length, 1);

      expect(await listAll(s3, 'output')).toEqual(['_failed/broken.jpg.json']);
      const record = JSON.parse((await getBytes(s3, 'output', '_failed/broken.jpg.json')).toString('utf8'));
      expect(record).toMatchObject({ bucket: 'input', key: 'broken.jpg', reason: 'corrupt-image', eTag: put.ETag!.replace(/"/g, '') });
      expect(failed).toEqual([]);
      expect(events.map((e) => [e['detail-type'], e.detail.reason])).toEqual([['ImageRejected', 'corrupt-image']]);
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('the same object uploaded twice yields one output set', async () => {
    const { pipeline, s3, done } = await started({ config: { variants: [{ name: 'small', width: 64, height: 64 }, { name: 'gray', width: 128, grayscale: true, format: 'png' }] } });
    try {
      const body = await photo();
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'twice.jpg', Body: body }));
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'twice.jpg', Body: body }));
      await settle(pipeline, () => done.length, 2);
      expect(done).toHaveLength(2);
      expect(await listAll(s3, 'output')).toEqual(['gray/twice.png', 'small/twice.jpg']);
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('keys outside the input prefix are not processed, and outputs go under the output prefix', async () => {
    const { pipeline, s3, done } = await started({ config: { inputPrefix: 'in/', outputPrefix: 'out/' } });
    const invoked: unknown[] = [];
    pipeline.on('invoke', (e) => invoked.push(e));
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'elsewhere/a.jpg', Body: await photo() }));
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'in/b.jpg', Body: await photo() }));
      await settle(pipeline, () => done.length, 1);
      expect(invoked).toHaveLength(1);
      expect(await listAll(s3, 'output')).toEqual(['out/grayscale-256/b.jpg']);
    } finally {
      await pipeline.stop(5_000);
    }
  });
});

describe('Lambda\'s retries and the failure queue', () => {
  /** A stand-in handler: throws for keys with "fail", exits the process for "crash", else succeeds. */
  function testHandler(): string {
    const file = path.join(tmp, 'handler.js');
    fs.writeFileSync(file, `
      const fs = require('fs');
      exports.handler = async (event) => {
        const key = decodeURIComponent(event.Records[0].s3.object.key.replace(/\\+/g, ' '));
        const counter = ${JSON.stringify(path.join(tmp, 'attempts-'))} + key.replace(/\\W/g, '_');
        const attempt = (fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0) + 1;
        fs.writeFileSync(counter, String(attempt));
        if (key.includes('fail')) throw new Error('always fails: ' + key);
        if (key.includes('crash')) process.exit(3);
        if (key.includes('flaky') && attempt === 1) throw new Error('first attempt fails');
        if (key.includes('slow')) await new Promise((r) => setTimeout(r, 3000));
        return { outcomes: [{ status: 'processed', key, outputs: [], ms: 0 }] };
      };`);
    return file;
  }

  const attempts = (key: string) => Number(fs.readFileSync(path.join(tmp, `attempts-${key.replace(/\W/g, '_')}`), 'utf8'));
  const queued = (dir: string) => fs.readdirSync(dir).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FailureDestinationRecord);

  test('an event that keeps failing is tried 3 times, then lands in the failure queue as Lambda records it', async () => {
    const { pipeline, s3, failed } = await started({ assets: { ...shippedAssets(), handlerPath: testHandler() } });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'will fail.jpg', Body: Buffer.from('x') }));
      await settle(pipeline, () => failed.length, 1);

      expect(attempts('will fail.jpg')).toBe(3);
      const records = queued(pipeline.failureQueueDir);
      expect(records).toHaveLength(1);
      expect(records[0].requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
      expect(records[0].responsePayload.errorMessage).toBe('always fails: will fail.jpg');
      expect((records[0].requestPayload as { Records: { s3: { object: { key: string } } }[] }).Records[0].s3.object.key).toBe('will+fail.jpg');
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('an event that succeeds on its second attempt is not in the failure queue', async () => {
    const { pipeline, s3, done } = await started({ assets: { ...shippedAssets(), handlerPath: testHandler() } });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'flaky.jpg', Body: Buffer.from('x') }));
      await settle(pipeline, () => done.length, 1);
      expect(attempts('flaky.jpg')).toBe(2);
      expect(done[0].attempts).toBe(2);
      expect(queued(pipeline.failureQueueDir)).toEqual([]);
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('a handler that crashes its process does not stop the endpoint: later uploads are processed', async () => {
    const { pipeline, s3, done, failed } = await started({ assets: { ...shippedAssets(), handlerPath: testHandler() } });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'crash.jpg', Body: Buffer.from('x') }));
      await settle(pipeline, () => failed.length, 1);
      expect(failed[0].record.responsePayload.errorType).toBe('Runtime.ExitError');

      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'after.jpg', Body: Buffer.from('x') }));
      await settle(pipeline, () => done.length, 1);
      expect(done.map((d) => (d.result as { outcomes: { key: string }[] }).outcomes[0].key)).toEqual(['after.jpg']);
    } finally {
      await pipeline.stop(5_000);
    }
  });

  test('stopping with events still running loses none: each finished, or runs at the next start, none in the failure queue', async () => {
    const { pipeline, s3, done } = await started({ concurrency: 1, assets: { ...shippedAssets(), handlerPath: testHandler() } });
    const keys = ['slow-1.jpg', 'slow-2.jpg', 'slow-3.jpg'];
    const running = new Promise<void>((resolve) => pipeline.once('invoke', () => resolve()));
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: Buffer.from('x') }));
    await running;

    // WHEN: a grace period shorter than the queued work
    await pipeline.stop(1_000);

    // THEN: nothing in the failure queue; what did not finish is journaled and runs at the next start
    expect(queued(pipeline.failureQueueDir)).toEqual([]);
    const finished = done.map((d) => (d.result as { outcomes: { key: string }[] }).outcomes[0].key);
    expect(finished.length).toBeLessThan(keys.length);
    const again = await started({ concurrency: 2, assets: { ...shippedAssets(), handlerPath: testHandler() } });
    await settle(again.pipeline, () => again.done.length, keys.length - finished.length);
    await again.pipeline.stop(5_000);
    const rerun = again.done.map((d) => (d.result as { outcomes: { key: string }[] }).outcomes[0].key);
    expect([...finished, ...rerun].sort()).toEqual(keys);
    expect(queued(pipeline.failureQueueDir)).toEqual([]);
  });
});

describe('the AWS CLI against the endpoint', () => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };

  testWithClient(AWS_CLI, 'cp of a photo with a space and unicode in its key, then ls of the output; and a 10 MB multipart round trip', async () => {
    const { pipeline, endpoint, done } = await started();
    try {
      const file = path.join(tmp, 'sun set.jpg');
      fs.writeFileSync(file, await photo());
      await run(AWS_CLI.path, ['--endpoint-url', endpoint, '--only-show-errors', 's3', 'cp', file, 's3://input/trips/sun set ☀.jpg'], { env });
      await settle(pipeline, () => done.length, 1);
      const { stdout } = await run(AWS_CLI.path, ['--endpoint-url', endpoint, 's3', 'ls', '--recursive', 's3://output/'], { env });
      expect(stdout).toContain('grayscale-256/trips/sun set ☀.jpg');

      const big = path.join(tmp, 'big.bin');
      fs.writeFileSync(big, Buffer.alloc(10 * 1024 * 1024, 7).map((v, i) => (v + i * 31) % 251));
      await run(AWS_CLI.path, ['--endpoint-url', endpoint, '--only-show-errors', 's3', 'cp', big, 's3://output/big.bin'], { env });
      await run(AWS_CLI.path, ['--endpoint-url', endpoint, '--only-show-errors', 's3', 'cp', 's3://output/big.bin', `${big}.back`], { env });
      expect(fs.readFileSync(`${big}.back`).equals(fs.readFileSync(big))).toBe(true);
    } finally {
      await pipeline.stop(5_000);
    }
  });
});

describe('the image-pipeline command', () => {
  test('process: writes the outputs of good files, names each bad one with its reason, exits 1', async () => {
    const dir = path.join(tmp, 'in');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a.jpg'), await photo());
    fs.writeFileSync(path.join(dir, 'sub', 'b.png'), await sharp(await photo()).png().toBuffer());
    fs.writeFileSync(path.join(dir, 'notes.jpg'), 'not a picture');
    const out = path.join(tmp, 'out');

    const result = await run('node', [CLI, 'process', dir, '--out', out, '--json']).catch((e) => e);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/failed: .*notes\.jpg: unsupported-format/);
    const json = JSON.parse(result.stdout) as { file: string; error?: { reason: string } }[];
    expect(json.filter((r) => r.error).map((r) => path.basename(r.file))).toEqual(['notes.jpg']);
    for (const f of ['grayscale-256/a.jpg', 'grayscale-256/sub/b.jpg']) {
      const meta = await sharp(path.join(out, f)).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([256, 256, 1]);
    }

    const good = await run('node', [CLI, 'process', path.join(dir, 'a.jpg'), '--out', out]);
    expect(good.stdout).toMatch(/1 files, 1 processed, 0 failed/);
  });

  test('demo: uploads the samples, reports none lost, and copies the outputs', async () => {
    const out = path.join(tmp, 'demo');
    const { stdout } = await run('node', [CLI, 'demo', '--out', out], { timeout: 60_000 });
    expect(stdout).toMatch(/11 uploads: 10 processed, 1 rejected with a failure record, 0 in the failure queue, 0 lost/);
    expect(stdout).toMatch(/11 EventBridge events: 10 ImageProcessed, 1 ImageRejected/);
    const outputs = fs.readdirSync(path.join(out, 'grayscale-256', 'photos'));
    expect(outputs).toHaveLength(10);
    for (const f of outputs) {
      const meta = await sharp(path.join(out, 'grayscale-256', 'photos', f)).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 256, 256, 1]);
    }
    expect(fs.readdirSync(path.join(out, '_failed', 'photos'))).toEqual(['broken.jpg.json']);
  });

  test('serve: prints its endpoint, processes an upload, and stops cleanly on SIGINT', async () => {
    const child = spawn('node', [CLI, 'serve', '--port', '0', '--data', path.join(tmp, 'serve')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!/serving an S3 endpoint at (http:\/\/\S+)/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const endpoint = /serving an S3 endpoint at (http:\/\/\S+)/.exec(output)![1];
      await client(endpoint).send(new PutObjectCommand({ Bucket: 'input', Key: 'one.jpg', Body: await photo() }));
      while (!output.includes('processed one.jpg') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(output).toContain('processed one.jpg -> grayscale-256/one.jpg');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('stopped.');
  });
});
