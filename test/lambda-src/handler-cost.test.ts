import { Readable } from 'stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { solid, TEAL } from './images';
import { validatePipelineConfig } from '../../lambda-src/config';
import { ImageProcessor, jsonLogger, readBody, TransientFailure } from '../../lambda-src/processor';

const s3Mock = mockClient(S3Client);

/** A body as the SDK's Node handler gives it: a stream of chunks. */
function streamed(chunks: Buffer[]): Readable {
  return Readable.from(chunks);
}

describe('readBody', () => {
  test('reads a streamed body of its Content-Length into one buffer, byte for byte', async () => {
    // GIVEN
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

    // WHEN
    const got = await readBody(streamed([bytes.subarray(0, 10), bytes.subarray(10, 600), bytes.subarray(600)]), bytes.length);

    // THEN
    expect(got.equals(bytes)).toBe(true);
  });

  test('a body shorter than its Content-Length throws (a cut connection), not a truncated image', async () => {
    await expect(readBody(streamed([Buffer.alloc(10)]), 20)).rejects.toThrow(/ended after 10 of its 20 bytes/);
  });

  test('a body longer than its Content-Length throws', async () => {
    await expect(readBody(streamed([Buffer.alloc(10), Buffer.alloc(11)]), 20)).rejects.toThrow(/longer than its Content-Length/);
  });

  test('without a Content-Length, or a body that does not stream, the SDK collects it', async () => {
    const bytes = Buffer.from('abc');
    const body = { transformToByteArray: async () => new Uint8Array(bytes) };
    expect((await readBody(body, undefined)).toString()).toBe('abc');
    expect((await readBody(body, 3)).toString()).toBe('abc');
  });
});

describe('log volume', () => {
  const eTag = 'd41d8cd98f00b204e9800998ecf8427e';
  const record = (key: string, size: number) => ({
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    s3: { bucket: { name: 'in' }, object: { key, size, eTag, sequencer: '0055AED6DCD90281E5' } },
  });
  let image: Buffer;

  beforeAll(async () => {
    image = await solid(120, 80, TEAL, 'jpeg');
  });

  beforeEach(() => {
    s3Mock.reset();
    s3Mock.on(HeadObjectCommand).rejects(new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'NotFound' }));
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"out"' });
  });

  function processor() {
    const logs: Record<string, unknown>[] = [];
    const p = new ImageProcessor(new S3Client({ region: 'us-east-1' }), validatePipelineConfig({ inputBucket: 'in', outputBucket: 'out' }), (e) => logs.push(e));
    return { p, logs };
  }

  test('a processed image logs one line, which is also its metric', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).resolves({ Body: streamed([image]) as unknown as GetObjectCommandOutput['Body'], ContentLength: image.length });
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent({ Records: [record('a.jpg', image.length)] });

    // THEN
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'INFO', message: 'image processed', key: 'a.jpg', ImagesProcessed: 1 });
    expect((logs[0]._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'ImagesProcessed', Unit: 'Count' }]);
    expect(logs[0].outputs).toEqual({ 'grayscale-256': expect.any(Number) });
    expect(JSON.stringify(logs[0]).length).toBeLessThan(400);
  });

  test('the JSON logger stamps a plain line with its time, not an embedded-metric line (which has its Timestamp)', () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      jsonLogger({ level: 'INFO', message: 'plain' });
      jsonLogger({ level: 'INFO', message: 'counted', _aws: { Timestamp: 1 } });
    } finally {
      spy.mockRestore();
    }
    const [plain, counted] = written.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(typeof plain.time).toBe('string');
    expect(counted.time).toBeUndefined();
    expect(written.every((l) => l.endsWith('\n') && l.split('\n').length === 2)).toBe(true);
  });

  test('a rejected image logs one line, which is also its metric with the reason', async () => {
    // GIVEN
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent({ Records: [record('empty.jpg', 0)] });

    // THEN
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'WARN', message: 'image rejected', reason: 'empty-object', ImagesRejected: 1 });
  });

  test('a body cut short is a transient failure: retried, nothing written', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).resolves({ Body: streamed([image.subarray(0, 100)]) as unknown as GetObjectCommandOutput['Body'], ContentLength: image.length });
    const { p } = processor();

    // WHEN / THEN
    await expect(p.handleEvent({ Records: [record('a.jpg', image.length)] })).rejects.toBeInstanceOf(TransientFailure);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
