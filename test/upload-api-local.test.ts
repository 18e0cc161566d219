/**
 * The upload API against the local mode, with a real HTTP client (fetch) as a browser or a script
 * would use it: the shipped handler runs each upload, and the endpoint checks signatures (it is
 * given credentials), so the signed type, length and expiry are enforced as S3 enforces them.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';

jest.setTimeout(60_000);

const CREDENTIALS = { accessKeyId: 'upload-api-test', secretAccessKey: 'upload-api-secret' };
const LIMIT = 300_000;

let tmp: string;
let pipeline: LocalPipeline;
let base: string;
let clock: () => number = Date.now;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'upload-api-local-'));
  pipeline = new LocalPipeline({
    dataDir: tmp,
    concurrency: 1,
    retryDelaysMs: [50, 100],
    credentials: CREDENTIALS,
    uploadApi: { api: { maxUploadBytes: LIMIT }, now: () => clock() },
  });
  await pipeline.start();
  base = pipeline.pageUrl!;
});
afterAll(async () => {
  await pipeline.stop(5000);
  fs.rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => {
  clock = Date.now;
});

interface Grant {
  id: string;
  key: string;
  statusPath: string;
  expiresAt: string;
  upload: { method: string; url: string; headers: Record<string, string> };
}

async function ask(contentType: string, contentLength: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}uploads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentType, contentLength }) });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function grant(bytes: Buffer, contentType = 'image/jpeg'): Promise<Grant> {
  const { status, body } = await ask(contentType, bytes.length);
  expect(status).toBe(201);
  return body as unknown as Grant;
}

async function put(g: Grant, bytes: Buffer, headers: Record<string, string> = g.upload.headers): Promise<Response> {
  return fetch(g.upload.url, { method: g.upload.method, headers, body: bytes });
}

async function state(g: Grant): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${g.statusPath.slice(1)}`);
  expect(res.status).toBe(200);
  return await res.json() as Record<string, unknown>;
}

function inputKeys(): string[] {
  return pipeline.server.listKeys(pipeline.inputBucket);
}

async function photo(): Promise<Buffer> {
  return sharp({ create: { width: 800, height: 533, channels: 3, background: '#4a7a3b', noise: { type: 'gaussian', mean: 110, sigma: 40 } } })
    .jpeg({ quality: 70 }).toBuffer();
}

test('a photograph: pending, then processed into a 256x256 grayscale JPEG behind a presigned GET that works', async () => {
  const bytes = await photo();
  const g = await grant(bytes);
  expect(g.key).toMatch(/^uploads\/[0-9a-f-]{36}\.jpg$/);
  expect(await state(g)).toEqual({ id: g.id, key: g.key, status: 'pending' });

  const res = await put(g, bytes);
  expect(res.status).toBe(200);
  await pipeline.idle();

  const done = await state(g);
  expect(done.status).toBe('processed');
  const outputs = done.outputs as { variant: string; key: string; format: string; width: number; height: number; bytes: number; url: string }[];
  expect(outputs).toHaveLength(1);
  expect(outputs[0]).toMatchObject({ variant: 'grayscale-256', key: `grayscale-256/${g.key}`, format: 'jpeg', width: 256, height: 256 });
  const image = await fetch(outputs[0].url);
  expect(image.status).toBe(200);
  const got = Buffer.from(await image.arrayBuffer());
  expect(got.length).toBe(outputs[0].bytes);
  const meta = await sharp(got).metadata();
  expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 256, 256, 1]);
});

test('a broken file: accepted as an upload, then rejected with the failure record\'s reason', async () => {
  const bytes = Buffer.from('this is not an image at all, whatever its name says. '.repeat(40));
  const g = await grant(bytes);
  expect((await put(g, bytes)).status).toBe(200);
  await pipeline.idle();
  expect(await state(g)).toMatchObject({ status: 'rejected', reason: 'unsupported-format', message: 'the object is not an image in a format this pipeline reads' });
});

test('a refused content type: 415, and no URL', async () => {
  const { status, body } = await ask('text/html', 100);
  expect(status).toBe(415);
  expect(body.error).toBe('UnsupportedContentType');
});

test('an oversize upload: refused by the API when declared, by the endpoint when the body is longer than signed', async () => {
  expect((await ask('image/jpeg', LIMIT + 1)).status).toBe(413);
  const before = inputKeys();
  const g = await grant(Buffer.alloc(1000));
  const res = await put(g, Buffer.alloc(LIMIT + 1, 1));
  expect(res.status).toBe(403);
  expect(await res.text()).toContain('SignatureDoesNotMatch');
  expect(inputKeys()).toEqual(before);
});

test('another content type than signed: refused by the endpoint', async () => {
  const bytes = await photo();
  const g = await grant(bytes);
  const res = await put(g, bytes, { ...g.upload.headers, 'Content-Type': 'image/png' });
  expect(res.status).toBe(403);
  expect(inputKeys()).not.toContain(g.key);
});

test('an expired URL: refused, nothing stored', async () => {
  const bytes = await photo();
  // signed ten minutes ago, valid for five
  clock = () => Date.now() - 10 * 60 * 1000;
  const g = await grant(bytes);
  expect(Date.parse(g.expiresAt)).toBeLessThan(Date.now());
  const res = await put(g, bytes);
  expect(res.status).toBe(403);
  expect(await res.text()).toContain('Request has expired');
  expect(inputKeys()).not.toContain(g.key);
});

test('no overwrite: the URL puts a new key once; a second PUT is refused', async () => {
  const bytes = await photo();
  const g = await grant(bytes);
  expect((await put(g, bytes)).status).toBe(200);
  expect((await put(g, bytes)).status).toBe(412);
  await pipeline.idle();
});

test('the page and its settings are served under /_pipeline/; a virtual-host request for that path is an S3 request', async () => {
  const page = await fetch(base);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
  expect(await page.text()).toContain('<h1>Image pipeline</h1>');
  const settings = await (await fetch(`${base}settings.json`)).json() as Record<string, unknown>;
  expect(settings).toMatchObject({ maxUploadBytes: LIMIT, acceptedContentTypes: expect.arrayContaining(['image/jpeg', 'image/png']) });
  expect((await fetch(`${base}..%2f..%2fpackage.json`)).status).toBe(404);
  // without credentials an S3 request is refused: it went to S3, not to the page
  const url = new URL(base);
  const status = await new Promise<number>((resolve, reject) => {
    // fetch may not set Host; node's http client does
    http.get({ host: '127.0.0.1', port: Number(url.port), path: '/_pipeline/', headers: { host: `input.localhost:${url.port}` } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  expect(status).toBe(403);
});
