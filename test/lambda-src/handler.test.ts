/**
 * The Lambda entry point. It reads PIPELINE_CONFIG and builds its S3 client when the module loads,
 * so each test loads a fresh copy of it (and of the SDK, so that the mock applies to the client
 * class that copy uses) after setting the environment.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import type { S3Event } from 'aws-lambda';
import { noisy, solid, TEAL, truncate } from './images';

type HandlerModule = typeof import('../../lambda-src/process-image.lambda');
type S3Module = typeof import('@aws-sdk/client-s3');
type MockModule = typeof import('aws-sdk-client-mock');

interface Loaded {
  readonly handler?: HandlerModule['handler'];
  readonly error?: Error;
  readonly s3: S3Module;
  readonly s3Mock: ReturnType<MockModule['mockClient']>;
  /** Everything the module wrote to stdout while loading. */
  readonly stdout: string[];
}

const ENV_KEYS = ['PIPELINE_CONFIG', 'PIPELINE_S3_ENDPOINT', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_REGION'];
const savedEnv: Record<string, string | undefined> = {};

beforeAll(() => {
  for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  jest.restoreAllMocks();
});

/** Loads the handler module afresh with `env`, capturing what it writes to stdout. */
function load(env: Record<string, string | undefined>): Loaded {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.env.AWS_REGION = 'us-east-1';
  const stdout: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  let result: Loaded | undefined;
  jest.isolateModules(() => {
    const s3 = require('@aws-sdk/client-s3') as S3Module;
    const { mockClient } = require('aws-sdk-client-mock') as MockModule;
    const s3Mock = mockClient(s3.S3Client);
    try {
      const mod = require('../../lambda-src/process-image.lambda') as HandlerModule;
      result = { handler: mod.handler, s3, s3Mock, stdout };
    } catch (e) {
      result = { error: e as Error, s3, s3Mock, stdout };
    }
  });
  spy.mockRestore();
  return result!;
}

/** The JSON lines written to stdout. */
function jsonLines(stdout: string[]): Record<string, unknown>[] {
  return stdout.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function s3Event(...keys: { key: string; size?: number }[]): S3Event {
  return {
    Records: keys.map(({ key, size }) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '2025-01-01T00:00:00.000Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:EXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'EXAMPLE', 'x-amz-id-2': 'EXAMPLE' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'pipeline',
        bucket: { name: 'in-bucket', ownerIdentity: { principalId: 'EXAMPLE' }, arn: 'arn:aws:s3:::in-bucket' },
        object: { key, size: size ?? 1000, eTag: '0123456789abcdef', sequencer: '01' },
      },
    })),
  };
}

function body(bytes: Buffer) {
  return { transformToByteArray: async () => new Uint8Array(bytes), transformToString: async () => bytes.toString('utf8') };
}

const VALID = JSON.stringify({ inputBucket: 'in-bucket', outputBucket: 'out-bucket', inputPrefix: 'uploads/', outputPrefix: 'processed/' });

describe('init', () => {
  test.each([
    ['not JSON', '{not json', /JSON/],
    ['missing outputBucket', '{"variants":[{"name":"a"}]}', /outputBucket/],
    ['a bad variant', JSON.stringify({ outputBucket: 'o', variants: [{ name: 'a', width: 0 }] }), /variants\[0\]\.width/],
    ['unset', undefined, /not set/],
  ])('fails when PIPELINE_CONFIG is %s, with one FATAL JSON line on stdout', (_what, config, pattern) => {
    // WHEN
    const loaded = load({ PIPELINE_CONFIG: config });

    // THEN: loading throws (Lambda reports an init error) ...
    expect(loaded.handler).toBeUndefined();
    expect(loaded.error?.name).toBe('ConfigError');
    expect(loaded.error?.message).toMatch(pattern);
    // ... and the log says why, as one structured line.
    const lines = jsonLines(loaded.stdout);
    expect(lines).toHaveLength(1);
    expect(lines[0].level).toBe('FATAL');
    expect(String(lines[0].message)).toMatch(pattern);
    expect(loaded.stdout.join('').endsWith('\n')).toBe(true);
  });

  test('a valid config loads without writing anything', () => {
    // WHEN
    const loaded = load({ PIPELINE_CONFIG: VALID });

    // THEN
    expect(loaded.error).toBeUndefined();
    expect(typeof loaded.handler).toBe('function');
    expect(loaded.stdout).toEqual([]);
  });

  test.each([
    ['128', 1],
    ['1769', 1],
    ['3008', 2],
    ['10240', 6],
  ])('at %s MB, libvips gets %i thread(s) and no operation cache', (memory, threads) => {
    // WHEN
    load({ PIPELINE_CONFIG: VALID, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memory });

    // THEN: libvips' state is process-wide, so any copy of sharp sees it.
    const sharp = require('sharp') as typeof import('sharp');
    expect(sharp.concurrency()).toBe(threads);
    const cache = sharp.cache();
    expect(cache.items.max).toBe(0);
    expect(cache.memory.max).toBe(0);
  });
});

describe('handler', () => {
  test('processes an event and returns the counts of processed, rejected and skipped records', async () => {
    // GIVEN
    const loaded = load({ PIPELINE_CONFIG: VALID });
    const { GetObjectCommand, PutObjectCommand } = loaded.s3;
    const good = await solid(80, 60, TEAL, 'jpeg');
    const corrupt = truncate(await noisy(120, 90, 'png'), 0.5);
    loaded.s3Mock.on(GetObjectCommand, { Key: 'uploads/good photo.jpg' }).resolves({ Body: body(good) as never });
    loaded.s3Mock.on(GetObjectCommand, { Key: 'uploads/corrupt.png' }).resolves({ Body: body(corrupt) as never });
    loaded.s3Mock.on(PutObjectCommand).resolves({});
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);

    // WHEN
    const result = await loaded.handler!(s3Event(
      { key: 'uploads/good+photo.jpg' },
      { key: 'uploads/corrupt.png' },
      { key: 'uploads/empty.jpg', size: 0 },
      { key: 'other/skip.jpg' },
    ));
    stdout.mockRestore();

    // THEN
    expect(result).toMatchObject({ processed: 1, rejected: 2, skipped: 1 });
    const keys = loaded.s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key).sort();
    expect(keys).toEqual([
      'processed/_failed/corrupt.png.json',
      'processed/_failed/empty.jpg.json',
      'processed/grayscale-256/good photo.jpg',
    ]);
  });

  test("S3's test event returns zero counts", async () => {
    // GIVEN
    const loaded = load({ PIPELINE_CONFIG: VALID });

    // WHEN
    const result = await loaded.handler!({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'in-bucket' });

    // THEN
    expect(result).toMatchObject({ processed: 0, rejected: 0, skipped: 0 });
    expect(loaded.s3Mock.calls()).toHaveLength(0);
  });

  test('an S3 error makes the invocation fail, so Lambda retries it', async () => {
    // GIVEN
    const loaded = load({ PIPELINE_CONFIG: VALID });
    loaded.s3Mock.on(loaded.s3.GetObjectCommand).rejects(new loaded.s3.S3ServiceException({
      name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'We encountered an internal error.',
    }));
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);

    // WHEN
    const run = loaded.handler!(s3Event({ key: 'uploads/a.jpg' }));

    // THEN
    await expect(run).rejects.toThrow(/uploads\/a\.jpg/);
    stdout.mockRestore();
  });

  test('logs one JSON line per entry to stdout', async () => {
    // GIVEN
    const loaded = load({ PIPELINE_CONFIG: VALID });
    const lines: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });

    // WHEN
    await loaded.handler!(s3Event({ key: 'uploads/empty.jpg', size: 0 }));

    // THEN: a WARN for the rejection and an EMF document, each parseable on its own.
    const entries = lines.map((l) => {
      expect(l.endsWith('\n')).toBe(true);
      return JSON.parse(l) as Record<string, unknown>;
    });
    expect(entries.some((e) => e.level === 'WARN' && e.reason === 'empty-object')).toBe(true);
    expect(entries.some((e) => e._aws !== undefined && e.ImagesRejected === 1)).toBe(true);
  });
});
