/**
 * The upload API's contract, over a mocked S3 client (aws-sdk-client-mock): what POST /uploads
 * signs and refuses, what GET /uploads/{id} answers in each state, and the Lambda entry point.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import sharp from 'sharp';
import { UploadApi } from '../../lambda-src/api/upload-api';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { keyHash } from '../../lambda-src/ordered-writes';
import { SOURCE_METADATA } from '../../src/contract';
import type { UploadApiConfig } from '../../src/private/upload-api-contract';

const NOW = Date.parse('2026-01-02T03:04:05Z');
const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const API: UploadApiConfig = { maxUploadBytes: 1000, uploadUrlExpirySeconds: 300, downloadUrlExpirySeconds: 900 };

function pipeline(doc: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: 'uploads-in', outputBucket: 'results-out', inputPrefix: 'incoming/', outputPrefix: 'derived/', ...doc });
}

const s3 = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }, requestChecksumCalculation: 'WHEN_REQUIRED' });
const mock = mockClient(s3);

function api(doc: Record<string, unknown> = {}, config: Partial<UploadApiConfig> = {}): UploadApi {
  return new UploadApi({ s3, pipeline: pipeline(doc), api: { ...API, ...config }, now: () => NOW, newId: () => ID });
}

function body(bytes: Buffer | string) {
  const b = Buffer.from(bytes);
  return { transformToByteArray: async () => new Uint8Array(b), transformToString: async () => b.toString('utf8') };
}

function missing() {
  return new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
}

/** An object of the output bucket as a ranged GET returns it. */
function object(bytes: Buffer, metadata: Record<string, string>, contentType = 'image/jpeg') {
  const head = bytes.subarray(0, 64 * 1024);
  return {
    Body: body(head),
    ContentType: contentType,
    ContentLength: head.length,
    ContentRange: `bytes 0-${head.length - 1}/${bytes.length}`,
    LastModified: new Date(NOW - 1000),
    Metadata: metadata,
  } as never;
}

function from(inputKey: string, sequencer: string): Record<string, string> {
  return { [SOURCE_METADATA.keyHash]: keyHash(inputKey), [SOURCE_METADATA.sequencer]: sequencer, [SOURCE_METADATA.eTag]: 'abc' };
}

let jpeg256: Buffer;
let webp100x50: Buffer;
beforeAll(async () => {
  jpeg256 = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#777' } }).toColourspace('b-w').jpeg().toBuffer();
  webp100x50 = await sharp({ create: { width: 100, height: 50, channels: 3, background: '#345' } }).webp().toBuffer();
});
beforeEach(() => {
  mock.reset();
  mock.on(GetObjectCommand).rejects(missing());
});

async function post(a: UploadApi, request: unknown) {
  const res = await a.handle('POST', '/uploads', typeof request === 'string' ? request : JSON.stringify(request));
  return { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers };
}

async function get(a: UploadApi, id: string) {
  const res = await a.handle('GET', `/uploads/${encodeURIComponent(id)}`, undefined);
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

describe('POST /uploads', () => {
  test('a presigned PUT for a new key under <inputPrefix>uploads/, signed for the type, the exact length and If-None-Match', async () => {
    const { status, body: grant, headers } = await post(api(), { contentType: 'image/jpeg', contentLength: 1000 });
    expect(status).toBe(201);
    expect(headers['Cache-Control']).toBe('no-store');
    expect(grant.id).toBe(`${ID}.jpg`);
    expect(grant.key).toBe(`incoming/uploads/${ID}.jpg`);
    expect(grant.statusPath).toBe(`/uploads/${ID}.jpg`);
    expect(grant.expiresAt).toBe('2026-01-02T03:09:05.000Z');
    expect(grant.upload.method).toBe('PUT');
    expect(grant.upload.headers).toEqual({ 'Content-Type': 'image/jpeg', 'If-None-Match': '*' });
    const url = new URL(grant.upload.url);
    expect(url.hostname).toBe('uploads-in.s3.eu-west-1.amazonaws.com');
    expect(decodeURIComponent(url.pathname)).toBe(`/incoming/uploads/${ID}.jpg`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host;if-none-match');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20260102T030405Z');
    // no checksum of an empty body is signed into the URL
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
  });

  test('the key is the service\'s: a new random id each time, the extension from the content type', async () => {
    const a = new UploadApi({ s3, pipeline: pipeline(), api: API });
    const one = (await post(a, { contentType: 'image/png', contentLength: 10 })).body;
    const two = (await post(a, { contentType: 'image/png', contentLength: 10 })).body;
    expect(one.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.png$/);
    expect(one.id).not.toBe(two.id);
    // whatever the client sends besides, the key is not its to choose
    const three = (await post(a, { contentType: 'image/png', contentLength: 10, key: '../output/x.png', id: 'mine' })).body;
    expect(three.key).toMatch(/^incoming\/uploads\/[0-9a-f-]{36}\.png$/);
  });

  test.each([
    ['text/html'],
    ['image/svg+xml'],
    ['application/octet-stream'],
  ])('refuses %s with 415, naming the accepted types', async (contentType) => {
    const { status, body: err } = await post(api(), { contentType, contentLength: 10 });
    expect(status).toBe(415);
    expect(err.error).toBe('UnsupportedContentType');
    expect(err.message).toContain('image/jpeg, image/png, image/webp, image/gif, image/tiff, image/avif');
  });

  test('the accepted types are the pipeline\'s accepted formats', async () => {
    const a = api({ acceptedFormats: ['png', 'svg'] });
    expect((await post(a, { contentType: 'image/jpeg', contentLength: 10 })).status).toBe(415);
    expect((await post(a, { contentType: 'image/svg+xml', contentLength: 10 })).body.id).toMatch(/\.svg$/);
  });

  test('refuses a declared length above the limit with 413; the limit itself is signed', async () => {
    const over = await post(api(), { contentType: 'image/jpeg', contentLength: 1001 });
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: 'TooLarge', message: 'the file has 1001 bytes, more than the limit of 1000' });
    expect((await post(api(), { contentType: 'image/jpeg', contentLength: 1000 })).status).toBe(201);
  });

  test.each<[string, unknown]>([
    ['not JSON', 'contentType=image/jpeg'],
    ['no length', { contentType: 'image/jpeg' }],
    ['a length of 0', { contentType: 'image/jpeg', contentLength: 0 }],
    ['a fractional length', { contentType: 'image/jpeg', contentLength: 1.5 }],
    ['a length as a string', { contentType: 'image/jpeg', contentLength: '10' }],
    ['no type', { contentLength: 10 }],
    ['an array', [1, 2]],
  ])('refuses %s with 400', async (_what, request) => {
    const { status, body: err } = await post(api(), request);
    expect(status).toBe(400);
    expect(err.error).toBe('BadRequest');
  });

  test('other methods and routes', async () => {
    expect((await api().handle('GET', '/uploads', undefined)).statusCode).toBe(405);
    expect((await api().handle('DELETE', `/uploads/${ID}.jpg`, undefined)).statusCode).toBe(405);
    expect((await api().handle('GET', '/', undefined)).statusCode).toBe(404);
  });
});

describe('GET /uploads/{id}', () => {
  const inputKey = `incoming/uploads/${ID}.jpg`;
  const outputKey = `derived/grayscale-256/uploads/${ID}.jpg`;
  const failureKey = `derived/_failed/uploads/${ID}.jpg.json`;

  test('pending while nothing is in the output bucket', async () => {
    expect(await get(api(), `${ID}.jpg`)).toEqual({ status: 200, body: { id: `${ID}.jpg`, key: inputKey, status: 'pending' } });
    // it read the output and the failure record, ranged
    const keys = mock.commandCalls(GetObjectCommand).map((c) => [c.args[0].input.Key, c.args[0].input.Range]);
    expect(keys).toEqual(expect.arrayContaining([[failureKey, undefined], [outputKey, 'bytes=0-65535']]));
  });

  test('processed: each output\'s key, format, dimensions read from its header, size, and a presigned GET', async () => {
    mock.on(GetObjectCommand, { Key: outputKey }).resolves(object(jpeg256, from(inputKey, '0055AA')));
    const { status, body: state } = await get(api(), `${ID}.jpg`);
    expect(status).toBe(200);
    expect(state).toMatchObject({ status: 'processed', key: inputKey, processedAt: '2026-01-02T03:04:04.000Z' });
    expect(state.outputs).toHaveLength(1);
    const [o] = state.outputs;
    expect(o).toMatchObject({ variant: 'grayscale-256', key: outputKey, format: 'jpeg', contentType: 'image/jpeg', width: 256, height: 256, bytes: jpeg256.length });
    const url = new URL(o.url);
    expect(url.hostname).toBe('results-out.s3.eu-west-1.amazonaws.com');
    expect(decodeURIComponent(url.pathname)).toBe(`/${outputKey}`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(o.urlExpiresAt).toBe('2026-01-02T03:19:05.000Z');
  });

  test('with two variants, pending until both are there', async () => {
    const variants = [{ name: 'small', width: 100, height: 50, format: 'webp' }, { name: 'big', width: 256, height: 256 }];
    mock.on(GetObjectCommand, { Key: `derived/small/uploads/${ID}.webp` }).resolves(object(webp100x50, from(inputKey, '01'), 'image/webp'));
    expect((await get(api({ variants }), `${ID}.jpg`)).body.status).toBe('pending');
    mock.on(GetObjectCommand, { Key: `derived/big/uploads/${ID}.jpg` }).resolves(object(jpeg256, from(inputKey, '01')));
    const state = (await get(api({ variants }), `${ID}.jpg`)).body;
    expect(state.status).toBe('processed');
    expect(state.outputs.map((o: { variant: string; width: number; height: number; format: string }) => [o.variant, o.format, o.width, o.height]))
      .toEqual([['small', 'webp', 100, 50], ['big', 'jpeg', 256, 256]]);
  });

  test('rejected: the failure record\'s reason and message', async () => {
    const record = { bucket: 'in', key: inputKey, reason: 'corrupt-image', message: 'the image header could not be read', time: '2026-01-02T03:04:00.000Z' };
    mock.on(GetObjectCommand, { Key: failureKey }).resolves({ Body: body(JSON.stringify(record)), Metadata: from(inputKey, '02') } as never);
    expect((await get(api(), `${ID}.jpg`)).body).toEqual({
      id: `${ID}.jpg`, key: inputKey, status: 'rejected', reason: 'corrupt-image', message: 'the image header could not be read', rejectedAt: '2026-01-02T03:04:00.000Z',
    });
  });

  test('the newest upload wins: a failure record newer than the outputs is the state, and outputs newer than a record', async () => {
    const record = { key: inputKey, reason: 'too-many-pixels', message: 'm', time: 't' };
    mock.on(GetObjectCommand, { Key: failureKey }).resolves({ Body: body(JSON.stringify(record)), Metadata: from(inputKey, '0A') } as never);
    mock.on(GetObjectCommand, { Key: outputKey }).resolves(object(jpeg256, from(inputKey, '09')));
    expect((await get(api(), `${ID}.jpg`)).body.status).toBe('rejected');

    mock.on(GetObjectCommand, { Key: failureKey }).resolves({ Body: body(JSON.stringify(record)), Metadata: from(inputKey, '0A') } as never);
    mock.on(GetObjectCommand, { Key: outputKey }).resolves(object(jpeg256, from(inputKey, '00B0')));
    expect((await get(api(), `${ID}.jpg`)).body.status).toBe('processed');
  });

  test('an output another input key wrote at this key (a collision) is not this upload\'s result', async () => {
    mock.on(GetObjectCommand, { Key: outputKey }).resolves(object(jpeg256, from('incoming/uploads/other.jpg', '01')));
    expect((await get(api(), `${ID}.jpg`)).body.status).toBe('pending');
  });

  test('a format-preserving variant: its output is found under whichever extension it has', async () => {
    const variants = [{ name: 'same', width: 100, height: 50, format: 'original' }];
    mock.on(GetObjectCommand, { Key: `derived/same/uploads/${ID}.webp` }).resolves(object(webp100x50, from(inputKey, '01'), 'image/webp'));
    const state = (await get(api({ variants }), `${ID}.jpg`)).body;
    expect(state.status).toBe('processed');
    expect(state.outputs[0]).toMatchObject({ key: `derived/same/uploads/${ID}.webp`, format: 'webp', width: 100, height: 50 });
  });

  test('the never-larger guard: a variant it may skip and that has no output is reported skipped, once the others are there', async () => {
    const variants = [{ name: 'big', width: 256, height: 256 }, { name: 'small', width: 100, height: 50, format: 'webp', whenLarger: 'skip' }];
    expect((await get(api({ variants }), `${ID}.jpg`)).body.status).toBe('pending');
    mock.on(GetObjectCommand, { Key: `derived/big/uploads/${ID}.jpg` }).resolves(object(jpeg256, from(inputKey, '01')));
    const state = (await get(api({ variants }), `${ID}.jpg`)).body;
    expect(state).toMatchObject({ status: 'processed', skipped: ['small'] });
    expect(state.outputs.map((o: { variant: string }) => o.variant)).toEqual(['big']);
  });

  test('the never-larger guard skipped every output: the skip record stands for them', async () => {
    const variants = [{ name: 'small', width: 100, height: 50, format: 'webp', whenLarger: 'skip' }];
    expect((await get(api({ variants }), `${ID}.jpg`)).body.status).toBe('pending');
    const record = { key: inputKey, sequencer: '05', outputs: [{ variant: 'small', note: { guard: 'skipped', reason: 'larger' } }] };
    mock.on(GetObjectCommand, { Key: `derived/_skipped/uploads/${ID}.jpg.json` })
      .resolves({ Body: body(JSON.stringify(record)), Metadata: from(inputKey, '05'), LastModified: new Date(NOW) } as never);
    expect((await get(api({ variants }), `${ID}.jpg`)).body).toEqual({
      id: `${ID}.jpg`, key: inputKey, status: 'processed', processedAt: '2026-01-02T03:04:05.000Z', outputs: [], skipped: ['small'],
    });
    // a newer upload's failure record wins over it
    mock.on(GetObjectCommand, { Key: failureKey })
      .resolves({ Body: body(JSON.stringify({ key: inputKey, reason: 'corrupt-image', message: 'm' })), Metadata: from(inputKey, '06') } as never);
    expect((await get(api({ variants }), `${ID}.jpg`)).body.status).toBe('rejected');
  });

  test('a TIFF output whose IFD comes after its first 64 KiB: one more ranged GET reads its size', async () => {
    const variants = [{ name: 'same', width: 900, height: 700, fit: 'fill', format: 'original' }];
    const tiff = await sharp({ create: { width: 900, height: 700, channels: 3, background: '#345', noise: { type: 'gaussian', mean: 100, sigma: 30 } } })
      .tiff({ compression: 'lzw' }).toBuffer();
    const ifd = tiff.readUInt32LE(4);
    expect(ifd).toBeGreaterThan(64 * 1024);
    const key = `derived/same/uploads/${ID}.tif`;
    mock.on(GetObjectCommand, { Key: key, Range: 'bytes=0-65535' }).resolves(object(tiff, from(inputKey, '01'), 'image/tiff'));
    mock.on(GetObjectCommand, { Key: key, Range: `bytes=${ifd}-${ifd + 65535}` }).resolves({ Body: body(tiff.subarray(ifd)) } as never);
    const state = (await get(api({ variants }), `${ID}.jpg`)).body;
    expect(state.outputs[0]).toMatchObject({ key, format: 'tiff', width: 900, height: 700, bytes: tiff.length });
  });

  test.each([
    ['not a uuid', 'photo.jpg'],
    ['a path', `../${ID}.jpg`],
    ['an unknown extension', `${ID}.exe`],
    ['no extension', ID],
  ])('404 for an id the API never hands out (%s), without reading S3', async (_what, id) => {
    const { status, body: err } = await get(api(), id);
    expect(status).toBe(404);
    expect(err.error).toBe('NotFound');
    expect(mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  test('an S3 error other than a missing key throws (the caller answers 500), never "pending"', async () => {
    mock.on(GetObjectCommand, { Key: outputKey }).rejects(new S3ServiceException({
      name: 'AccessDenied', $fault: 'client', message: 'Access Denied', $metadata: { httpStatusCode: 403 },
    }));
    await expect(api().handle('GET', `/uploads/${ID}.jpg`, undefined)).rejects.toThrow('Access Denied');
  });
});

describe('the Lambda entry point', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  function load(): (event: unknown) => Promise<{ statusCode: number; body: string }> {
    process.env.AWS_REGION = 'eu-west-1';
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.PIPELINE_CONFIG = JSON.stringify({ inputBucket: 'in', outputBucket: 'out' });
    process.env.UPLOAD_API_CONFIG = JSON.stringify(API);
    let handler!: (event: unknown) => Promise<{ statusCode: number; body: string }>;
    jest.isolateModules(() => {
      handler = jest.requireActual('../../lambda-src/api/upload-api.lambda').handler;
    });
    return handler;
  }

  const event = (routeKey: string, extra: Record<string, unknown> = {}) => ({ routeKey, requestContext: { requestId: 'r-1' }, ...extra });

  test('routes by route key: POST /uploads (a base64 body too) and GET /uploads/{id}', async () => {
    const handler = load();
    const created = await handler(event('POST /uploads', {
      body: Buffer.from(JSON.stringify({ contentType: 'image/png', contentLength: 5 })).toString('base64'), isBase64Encoded: true,
    }));
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(created.body).key).toMatch(/^uploads\/[0-9a-f-]{36}\.png$/);
    expect((await handler(event('POST /uploads', { body: '{"contentType":"text/plain","contentLength":5}' }))).statusCode).toBe(415);
    expect((await handler(event('GET /uploads/{id}', { pathParameters: { id: 'nope' } }))).statusCode).toBe(404);
    expect((await handler(event('DELETE /uploads/{id}'))).statusCode).toBe(404);
  });

  test('a failure it cannot answer is a 500 with the request id, logged', async () => {
    const handler = load();
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      lines.push(String(s));
      return true;
    });
    try {
      // no S3 at all behind this endpoint: every read fails
      process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:9';
      const broken = load();
      const res = await broken(event('GET /uploads/{id}', { pathParameters: { id: `${ID}.jpg` } }));
      expect(res.statusCode).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ error: 'InternalError', message: 'the request could not be answered; try again', requestId: 'r-1' });
      expect(lines.some((l) => /"level":"ERROR".*"route":"GET \/uploads\/\{id\}"/.test(l))).toBe(true);
    } finally {
      write.mockRestore();
    }
    void handler;
  });
});

test('the shipped bundle (assets/, as Lambda runs it) signs with Lambda\'s credentials from the environment', () => {
  const bundle = path.join(__dirname, '..', '..', 'assets', 'lambda-src', 'api', 'upload-api.lambda', 'index.js');
  const script = `require(${JSON.stringify(bundle)}).handler({ routeKey: 'POST /uploads', requestContext: { requestId: 'r' },
    body: JSON.stringify({ contentType: 'image/webp', contentLength: 10 }) }).then((r) => process.stdout.write(JSON.stringify(r)));`;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: {
      PATH: process.env.PATH,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'session-token',
      PIPELINE_CONFIG: JSON.stringify({ inputBucket: 'uploads-in', outputBucket: 'results-out', inputPrefix: 'in/' }),
      UPLOAD_API_CONFIG: JSON.stringify(API),
    },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const res = JSON.parse(out);
  expect(res.statusCode).toBe(201);
  const url = new URL(JSON.parse(res.body).upload.url);
  expect(url.hostname).toBe('uploads-in.s3.eu-west-1.amazonaws.com');
  expect(url.pathname).toMatch(/^\/in\/uploads\/[0-9a-f-]{36}\.webp$/);
  expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAEXAMPLE\//);
  expect(url.searchParams.get('X-Amz-Security-Token')).toBe('session-token');
  expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
});
