import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EVENTS_LATENCY, Latency, S3_LATENCY } from '../lambda-src/local/s3/latency';
import { S3Server } from '../lambda-src/local/s3/server';

describe('Latency', () => {
  test('first-byte delays follow the profile: the median and the 99th percentile of many draws', () => {
    // GIVEN
    const l = new Latency(S3_LATENCY, 7);

    // WHEN
    const draws = Array.from({ length: 20_000 }, () => l.firstByteMs()).sort((a, b) => a - b);

    // THEN
    const median = draws[draws.length / 2];
    const p99 = draws[Math.floor(draws.length * 0.99)];
    expect(median).toBeGreaterThan(S3_LATENCY.medianMs * 0.95);
    expect(median).toBeLessThan(S3_LATENCY.medianMs * 1.05);
    expect(p99).toBeGreaterThan(S3_LATENCY.p99Ms * 0.9);
    expect(p99).toBeLessThan(S3_LATENCY.p99Ms * 1.1);
    expect(draws[0]).toBeGreaterThan(0);
  });

  test('the same seed gives the same delays; another seed, others', () => {
    const a = new Latency(EVENTS_LATENCY, 3);
    const b = new Latency(EVENTS_LATENCY, 3);
    const c = new Latency(EVENTS_LATENCY, 4);
    const xs = Array.from({ length: 5 }, () => a.firstByteMs());
    expect(Array.from({ length: 5 }, () => b.firstByteMs())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.firstByteMs())).not.toEqual(xs);
  });

  test('transfer time is bytes over the throughput; none without one', () => {
    expect(new Latency(S3_LATENCY).transferMs(88e6)).toBeCloseTo(1000, 6);
    expect(new Latency(EVENTS_LATENCY).transferMs(1e9)).toBe(0);
  });

  test('an impossible profile is refused', () => {
    expect(() => new Latency({ medianMs: 50, p99Ms: 10, bytesPerSecond: 1 })).toThrow(/median <= p99/);
  });
});

describe('the S3 endpoint with a latency model', () => {
  let dir: string;
  let server: S3Server;
  let client: S3Client;
  const calls: { firstByte: number; transfers: number[] } = { firstByte: 0, transfers: [] };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latency-'));
    // A model with no real delay, that records what the endpoint asks of it.
    const latency = new Latency({ medianMs: 0, p99Ms: 0, bytesPerSecond: 1e12 });
    latency.firstByteMs = () => {
      calls.firstByte++;
      return 0;
    };
    const transfer = latency.transferMs.bind(latency);
    latency.transferMs = (bytes: number) => {
      calls.transfers.push(bytes);
      return transfer(bytes);
    };
    server = new S3Server({ dataDir: dir, buckets: ['bucket'], latency });
    const endpoint = await server.start();
    client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  afterAll(async () => {
    client.destroy();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('each request waits a first-byte delay, and its body bytes each way are timed', async () => {
    // GIVEN
    const body = Buffer.alloc(12_345, 1);
    calls.firstByte = 0;
    calls.transfers = [];

    // WHEN
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'k', Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }));
    const bytes = await got.Body!.transformToByteArray();

    // THEN
    expect(Buffer.from(bytes).equals(body)).toBe(true);
    expect(calls.firstByte).toBe(2);
    // The PUT's request body, then its (empty) response; the GET's empty request, then its body.
    expect(calls.transfers).toContain(body.length);
    expect(calls.transfers.filter((n) => n === body.length)).toHaveLength(2);
  });
});
