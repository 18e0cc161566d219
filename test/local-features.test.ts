/**
 * The manifest, deletes, labels and S3 Batch Operations tasks through the local mode: the shipped
 * handler bundle and layer behind the embedded S3 endpoint, and `image-pipeline process`. Everything
 * listens on 127.0.0.1.
 */
import { execFile } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { InvocationDone } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline, type LocalPipelineOptions } from '../lambda-src/local/local-pipeline';
import type { RecordOutcome } from '../lambda-src/processor';
import { encodeEventKey } from '../lambda-src/s3-event';

const CLI = path.join(__dirname, '..', 'assets', 'lambda-src', 'local', 'cli', 'index.js');
const LABELS_NOTE = 'labels need Amazon Rekognition on AWS: the local mode writes none';

jest.setTimeout(90_000);

let tmp: string;
let pipeline: LocalPipeline | undefined;
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'local-features-')); });
afterEach(async () => {
  await pipeline?.stop(5_000);
  pipeline = undefined;
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function start(config: Record<string, unknown>, options: Partial<LocalPipelineOptions> = {}) {
  pipeline = new LocalPipeline({ dataDir: path.join(tmp, 'data'), concurrency: 1, retryDelaysMs: [50, 100], config, ...options });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'thing' } });
  const done: InvocationDone[] = [];
  const logs: string[] = [];
  pipeline.on('done', (d: InvocationDone) => done.push(d));
  pipeline.on('log', (l: string) => logs.push(l));
  /** Runs `action`, then waits until `count` more invocations are done. */
  const after = async (count: number, action: () => Promise<unknown>) => {
    const before = done.length;
    await action();
    const deadline = Date.now() + 30_000;
    while (done.length < before + count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await pipeline!.idle();
    return done.slice(before);
  };
  const list = async (bucket = 'output') => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((c) => c.Key!).sort();
  const read = async (key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'output', Key: key }))).Body!.transformToByteArray());
  return { s3, done, logs, after, list, read };
}

function outcomes(done: InvocationDone[]): RecordOutcome[] {
  return done.flatMap((d) => (d.result as { outcomes?: RecordOutcome[] }).outcomes ?? []);
}

async function photo(colour: string): Promise<Buffer> {
  return sharp({ create: { width: 640, height: 480, channels: 3, background: colour } }).jpeg().toBuffer();
}

test('manifest and deletes: upload, delete, re-upload; DeleteObjects too', async () => {
  // GIVEN
  const { s3, after, list, read } = await start({ manifest: true, processDeletes: true });
  const put = async (key: string, body: Promise<Buffer>) => s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: await body }));

  // WHEN an upload
  await after(1, () => put('a photo.jpg', photo('#3a7bd5')));
  // THEN its output and its manifest, whose digest is the output's
  expect(await list()).toEqual(['_manifests/a photo.jpg.json', 'grayscale-256/a photo.jpg']);
  const manifest = JSON.parse((await read('_manifests/a photo.jpg.json')).toString('utf8'));
  const output = await read('grayscale-256/a photo.jpg');
  expect(manifest).toMatchObject({
    key: 'a photo.jpg',
    input: { format: 'jpeg', width: 640, height: 480 },
    outputs: [{ key: 'grayscale-256/a photo.jpg', bytes: output.length, sha256: createHash('sha256').update(output).digest('hex') }],
    dominantColour: expect.stringMatching(/^#/),
    perceptualHash: expect.stringMatching(/^[0-9a-f]{16}$/),
  });

  // WHEN it is deleted: the endpoint sends ObjectRemoved:Delete
  const deleted = await after(1, () => s3.send(new DeleteObjectCommand({ Bucket: 'input', Key: 'a photo.jpg' })));
  expect(outcomes(deleted)).toEqual([expect.objectContaining({ status: 'deleted', key: 'a photo.jpg' })]);
  expect(await list()).toEqual(['_deleted/a photo.jpg.json']);

  // WHEN it is uploaded again
  await after(1, () => put('a photo.jpg', photo('#d53a3a')));
  expect(await list()).toEqual(['_manifests/a photo.jpg.json', 'grayscale-256/a photo.jpg']);

  // WHEN two keys go in one DeleteObjects request
  await after(1, () => put('b.jpg', photo('#222222')));
  await after(2, () => s3.send(new DeleteObjectsCommand({ Bucket: 'input', Delete: { Objects: [{ Key: 'a photo.jpg' }, { Key: 'b.jpg' }] } })));
  expect(await list()).toEqual(['_deleted/a photo.jpg.json', '_deleted/b.jpg.json']);
});

test('without processDeletes the endpoint sends no ObjectRemoved event and the outputs stay', async () => {
  const { s3, after, list } = await start({});
  const invoked: unknown[] = [];
  pipeline!.on('invoke', (e) => invoked.push(e));
  await after(1, async () => s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'x.jpg', Body: await photo('#3a7bd5') })));
  await s3.send(new DeleteObjectCommand({ Bucket: 'input', Key: 'x.jpg' }));
  await pipeline!.idle();
  expect(invoked).toHaveLength(1);
  expect(await list()).toEqual(['grayscale-256/x.jpg']);
});

test('an S3 Batch Operations invocation of the local function: one result per task', async () => {
  // GIVEN objects already in the input bucket, processed by nobody (the events went nowhere)
  const { s3, after, list } = await start({ manifest: true });
  await after(1, async () => s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'seeded/ok é.jpg', Body: await photo('#3a7bd5') })));
  await after(1, () => s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'seeded/bad.jpg', Body: Buffer.from('not an image') })));
  // the variants change: a Batch job runs the processor over the keys
  const event = {
    invocationSchemaVersion: '1.0',
    invocationId: 'local-1',
    job: { id: 'job-1' },
    tasks: ['seeded/ok é.jpg', 'seeded/bad.jpg', 'seeded/gone.jpg'].map((k, i) => ({ taskId: `t${i}`, s3Key: encodeEventKey(k), s3VersionId: null, s3BucketArn: 'arn:aws:s3:::input' })),
  };
  // WHEN
  const [d] = await after(1, async () => pipeline!.invoke(event));
  // THEN
  expect(d.result).toMatchObject({
    invocationSchemaVersion: '1.0',
    invocationId: 'local-1',
    results: [
      { taskId: 't0', resultCode: 'Succeeded', resultString: 'processed: grayscale-256/seeded/ok é.jpg' },
      { taskId: 't1', resultCode: 'PermanentFailure', resultString: expect.stringMatching(/^rejected: /) },
      { taskId: 't2', resultCode: 'Succeeded', resultString: 'skipped: the object no longer exists' },
    ],
  });
  expect(await list()).toEqual(['_failed/seeded/bad.jpg.json', '_manifests/seeded/ok é.jpg.json', 'grayscale-256/seeded/ok é.jpg']);
});

test('labels in the local mode: the handler says they need AWS, and the manifest has none', async () => {
  const { s3, after, logs, read } = await start({ manifest: true, labels: { minConfidence: 80 } });
  await after(1, async () => s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'x.jpg', Body: await photo('#3a7bd5') })));
  expect(logs.some((l) => l.includes(LABELS_NOTE))).toBe(true);
  const manifest = JSON.parse((await read('_manifests/x.jpg.json')).toString('utf8'));
  expect(manifest.labels).toBeUndefined();
  expect(manifest.labelsSkipped).toBeUndefined();
});

test('image-pipeline process with the manifest on writes one per file, and says labels need AWS', async () => {
  const input = path.join(tmp, 'in');
  const out = path.join(tmp, 'out');
  fs.mkdirSync(path.join(input, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(input, 'sub', 'p.jpg'), await photo('#3a7bd5'));
  const config = path.join(tmp, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ manifest: true, labels: {}, variants: [{ name: 'thumb', width: 64, height: 64, format: 'webp' }] }));
  const { stderr } = await promisify(execFile)('node', [CLI, 'process', input, '--out', out, '--config', config]);
  expect(stderr).toContain(LABELS_NOTE);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, '_manifests', 'sub', 'p.jpg.json'), 'utf8'));
  const thumb = fs.readFileSync(path.join(out, 'thumb', 'sub', 'p.webp'));
  expect(manifest).toMatchObject({
    key: 'sub/p.jpg',
    input: { format: 'jpeg', width: 640, height: 480 },
    outputs: [{ variant: 'thumb', key: 'thumb/sub/p.webp', format: 'webp', width: 64, height: 64, bytes: thumb.length, sha256: createHash('sha256').update(thumb).digest('hex') }],
  });
});
