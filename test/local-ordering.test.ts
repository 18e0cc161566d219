/**
 * The newest upload of a key wins through the local mode: the shipped handler against the local
 * endpoint's conditional writes and deletes, upload after upload of one key.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { InvocationDone } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';

jest.setTimeout(60_000);

let tmp: string;
let pipeline: LocalPipeline;
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'local-ordering-')); });
afterEach(async () => {
  await pipeline?.stop(5_000);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('processed, then rejected, then processed again: each time the output bucket holds only the newest upload\'s result', async () => {
  pipeline = new LocalPipeline({ dataDir: path.join(tmp, 'data'), concurrency: 1, retryDelaysMs: [50, 100] });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'thing' } });
  const done: InvocationDone[] = [];
  pipeline.on('done', (d: InvocationDone) => done.push(d));
  const list = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: 'output' }))).Contents ?? []).map((c) => c.Key!).sort();
  const upload = async (body: Buffer) => {
    const before = done.length;
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'photo.jpg', Body: body }));
    while (done.length === before) await new Promise((r) => setTimeout(r, 20));
    await pipeline.idle();
  };
  const sequencer = async (key: string) => (await s3.send(new HeadObjectCommand({ Bucket: 'output', Key: key }))).Metadata?.['source-sequencer'];
  const red = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#ff0000' } }).jpeg().toBuffer();
  const blue = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#0000ff' } }).jpeg().toBuffer();

  await upload(red);
  expect(await list()).toEqual(['grayscale-256/photo.jpg']);
  const first = await sequencer('grayscale-256/photo.jpg');

  await upload(Buffer.from('not an image'));
  expect(await list()).toEqual(['_failed/photo.jpg.json']);
  const second = await sequencer('_failed/photo.jpg.json');
  expect(second! > first!).toBe(true);

  await upload(blue);
  expect(await list()).toEqual(['grayscale-256/photo.jpg']);
  expect(await sequencer('grayscale-256/photo.jpg')).not.toBe(first);
  const out = await s3.send(new GetObjectCommand({ Bucket: 'output', Key: 'grayscale-256/photo.jpg' }));
  const stats = await sharp(Buffer.from(await out.Body!.transformToByteArray())).stats();
  // blue in libvips' grayscale is about 75, red about 127
  expect(Math.abs(stats.channels[0].mean - 75)).toBeLessThan(10);
});
