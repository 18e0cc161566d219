/**
 * The per-variant output features in the local mode, end to end through the shipped handler bundle
 * and sharp layer: rules by prefix (with their notification filters), key templates, crops,
 * animation, headers and metadata, the never-larger guard; and the same config in `image-pipeline
 * process`. Everything listens on 127.0.0.1.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { animated, BLUE, GREEN, RED, solid, TEAL } from './lambda-src/images';
import type { DeliveredEvent } from '../lambda-src/local/aws-api/event-bus';
import type { InvocationDone } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';

const CLI = path.join(__dirname, '..', 'assets', 'lambda-src', 'local', 'cli', 'index.js');
const run = promisify(execFile);

jest.setTimeout(60_000);

let tmp: string;
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'local-output-features-')); });
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The pipeline of the README's outputs section, in the local mode's document form. */
const CONFIG = {
  rules: [
    {
      prefix: 'avatars/',
      variants: [{
        name: 'square',
        width: 64,
        height: 64,
        position: 'attention',
        key: '{dir}/{name}_{width}x{height}.{ext}',
        cacheControl: 'public, max-age=31536000, immutable',
        metadata: { collection: 'avatars' },
        copyUserMetadata: true,
      }],
    },
    { prefix: 'anim/', variants: [{ name: 'loop', width: 32, format: 'webp', animated: true }] },
    { prefix: 'icons/', variants: [{ name: 'big', width: 256, height: 256, quality: 95, whenLarger: 'keep-source' }] },
  ],
};

async function list(s3: S3Client): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: 'output' }));
  return (res.Contents ?? []).map((c) => c.Key!).sort();
}

async function bytes(s3: S3Client, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: 'output', Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

test('rules, templates, headers, animation and the guard through the local S3 endpoint', async () => {
  const pipeline = new LocalPipeline({ dataDir: path.join(tmp, 'data'), concurrency: 2, retryDelaysMs: [50, 100], config: CONFIG, uploadApi: false });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'thing' } });
  const done: InvocationDone[] = [];
  const invoked: string[] = [];
  const events: DeliveredEvent[] = [];
  pipeline.on('done', (d: InvocationDone) => done.push(d));
  pipeline.on('invoke', (e: { Records: { s3: { object: { key: string } } }[] }) => invoked.push(e.Records[0].s3.object.key));
  pipeline.on('event', (e: DeliveredEvent) => events.push(e));
  try {
    const icon = await solid(64, 64, TEAL, 'png');
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'misc/ignored.jpg', Body: await solid(100, 100, RED, 'jpeg') }));
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'avatars/team/ann.jpg', Body: await solid(300, 200, RED, 'jpeg'), Metadata: { owner: 'ann' } }));
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'anim/spin.gif', Body: await animated(64, 48, [RED, GREEN, BLUE], 'gif') }));
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'icons/dot.png', Body: icon }));
    const deadline = Date.now() + 30_000;
    while (done.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await pipeline.idle();

    // a key under no rule is not even notified, as the construct subscribes only the rules' prefixes
    expect(invoked.sort()).toEqual(['anim/spin.gif', 'avatars/team/ann.jpg', 'icons/dot.png']);
    expect(await list(s3)).toEqual(['avatars/team/ann_64x64.jpg', 'big/icons/dot.png', 'loop/anim/spin.webp']);

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'output', Key: 'avatars/team/ann_64x64.jpg' }));
    expect(head.CacheControl).toBe('public, max-age=31536000, immutable');
    expect(head.Metadata).toMatchObject({ 'owner': 'ann', 'collection': 'avatars', 'source-key': 'avatars%2Fteam%2Fann.jpg' });
    const square = await sharp(await bytes(s3, 'avatars/team/ann_64x64.jpg')).metadata();
    expect([square.format, square.width, square.height]).toEqual(['jpeg', 64, 64]);

    const loop = await sharp(await bytes(s3, 'loop/anim/spin.webp')).metadata();
    expect([loop.format, loop.width, loop.pages]).toEqual(['webp', 32, 3]);

    expect((await bytes(s3, 'big/icons/dot.png')).equals(icon)).toBe(true);
    const processed = events.find((e) => e.detail.key === 'icons/dot.png')!;
    expect(processed.detail.outputs).toEqual([expect.objectContaining({
      key: 'big/icons/dot.png', format: 'png', note: { guard: 'kept-source', reason: expect.stringMatching(/larger than the input/) },
    })]);
  } finally {
    await pipeline.stop(5_000);
  }
});

test('image-pipeline process takes the same config: rules, templates, the guard; a file under no rule is skipped', async () => {
  const dir = path.join(tmp, 'in');
  const out = path.join(tmp, 'out');
  fs.mkdirSync(path.join(dir, 'avatars'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'icons'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'misc'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'avatars', 'ann.jpg'), await solid(300, 200, RED, 'jpeg'));
  const icon = await solid(64, 64, TEAL, 'png');
  fs.writeFileSync(path.join(dir, 'icons', 'dot.png'), icon);
  fs.writeFileSync(path.join(dir, 'misc', 'x.jpg'), await solid(50, 50, RED, 'jpeg'));
  const config = path.join(tmp, 'config.json');
  fs.writeFileSync(config, JSON.stringify(CONFIG));

  const { stdout } = await run('node', [CLI, 'process', dir, '--out', out, '--config', config, '--json']);
  type Result = { file: string; skipped?: string; outputs: { path: string; note?: { guard: string }; headers?: unknown }[] };
  const results = JSON.parse(stdout) as Result[];
  const byFile = new Map(results.map((r) => [path.relative(dir, r.file), r]));
  expect(byFile.get('misc/x.jpg')).toMatchObject({ outputs: [], skipped: 'key is under no rule\'s prefix (rules: "avatars/", "anim/", "icons/")' });
  expect(byFile.get('avatars/ann.jpg')!.outputs).toEqual([expect.objectContaining({
    path: path.join(out, 'avatars', 'ann_64x64.jpg'),
    headers: { cacheControl: 'public, max-age=31536000, immutable', metadata: { collection: 'avatars' } },
  })]);
  expect(byFile.get('icons/dot.png')!.outputs[0]).toMatchObject({ path: path.join(out, 'big', 'icons', 'dot.png'), note: { guard: 'kept-source' } });
  expect(fs.readFileSync(path.join(out, 'big', 'icons', 'dot.png')).equals(icon)).toBe(true);
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else files.push(path.relative(out, path.join(d, e.name)));
    }
  };
  walk(out);
  expect(files.sort()).toEqual(['avatars/ann_64x64.jpg', 'big/icons/dot.png']);
});
