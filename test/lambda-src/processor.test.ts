import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { decode, mean, noisy, solid, srgbLuminance, TEAL, truncate } from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { ImageProcessor, TransientFailure, type FailureRecord } from '../../lambda-src/processor';
import { decodeKey } from '../../lambda-src/s3-event';

const s3Mock = mockClient(S3Client);

const IN = 'in-bucket';
const OUT = 'out-bucket';

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'uploads/', outputPrefix: 'processed/', ...extra });
}

/** An S3 ObjectCreated record as S3 sends it: the key URL-encoded, `+` for a space, eTag unquoted. */
function record(key: string, opts: { bucket?: string; size?: number; eTag?: string; eventName?: string } = {}): S3EventRecord {
  const bucket = opts.bucket ?? IN;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2025-01-01T00:00:00.000Z',
    eventName: opts.eventName ?? 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:EXAMPLE' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'EXAMPLE', 'x-amz-id-2': 'EXAMPLE' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'pipeline',
      bucket: { name: bucket, ownerIdentity: { principalId: 'EXAMPLE' }, arn: `arn:aws:s3:::${bucket}` },
      object: { key, size: opts.size ?? 1234, eTag: opts.eTag ?? 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '0055AED6DCD90281E5' },
    },
  };
}

function event(...records: S3EventRecord[]): S3Event {
  return { Records: records };
}

/** A GetObject response whose body yields `bytes` (the SDK's stream mixin, reduced to what is read). */
function getResponse(bytes: Buffer): Partial<GetObjectCommandOutput> {
  const body = {
    transformToByteArray: async () => new Uint8Array(bytes),
    transformToString: async () => bytes.toString('utf8'),
  };
  return { Body: body as unknown as GetObjectCommandOutput['Body'], ContentLength: bytes.length, ETag: '"d41d8cd98f00b204e9800998ecf8427e"' };
}

function s3Error(name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client'): S3ServiceException {
  return new S3ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: `${name} (${status})` });
}

function puts() {
  return s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
}

function gets() {
  return s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
}

function processor(cfg: PipelineConfig = config()): { p: ImageProcessor; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  return { p: new ImageProcessor(new S3Client({ region: 'us-east-1' }), cfg, (e) => logs.push(e)), logs };
}

function failureRecordOf(put: { Body?: unknown }): FailureRecord {
  return JSON.parse(String(put.Body)) as FailureRecord;
}

let image: Buffer;

beforeAll(async () => {
  image = await solid(120, 80, TEAL, 'jpeg');
});

beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"out"' });
  s3Mock.on(GetObjectCommand).resolves(getResponse(image));
});

describe('decodeKey', () => {
  test.each([
    ['my+photo%C3%A9.jpg', 'my photoé.jpg'],
    ['a%2Bb.jpg', 'a+b.jpg'],
    ['dir/sub+dir/x%20y.png', 'dir/sub dir/x y.png'],
    ['%E7%8C%AB.webp', '猫.webp'],
    ['100%25.jpg', '100%.jpg'],
  ])('%j is %j', (raw, key) => {
    expect(decodeKey(raw)).toBe(key);
  });
});

describe('an upload', () => {
  test('is read pinned to its eTag and written as the default variant', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/my+photo%C3%A9.jpg', { eTag: 'abc123' })));

    // THEN: read with the key decoded and the eTag quoted as an If-Match condition.
    expect(gets()).toEqual([expect.objectContaining({ Bucket: IN, Key: 'uploads/my photoé.jpg', IfMatch: '"abc123"' })]);
    const written = puts();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ Bucket: OUT, Key: 'processed/grayscale-256/my photoé.jpg', ContentType: 'image/jpeg' });
    const d = await decode(written[0].Body as Buffer);
    expect(d).toMatchObject({ format: 'jpeg', width: 256, height: 256, channels: 1 });
    expect(Math.abs((await mean(written[0].Body as Buffer))[0] - srgbLuminance(TEAL))).toBeLessThanOrEqual(4);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'processed', key: 'uploads/my photoé.jpg' })]);
  });

  test('an eTag that arrives quoted is not quoted twice', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/a.jpg', { eTag: '"abc123"' })));

    // THEN
    expect(gets()[0].IfMatch).toBe('"abc123"');
  });

  test('every variant is written under its own name, with the extension of its format', async () => {
    // GIVEN
    const { p } = processor(config({
      variants: [
        { name: 'thumb', width: 32, height: 32, format: 'png', grayscale: true },
        { name: 'web', width: 60, fit: 'inside', format: 'webp' },
        { name: 'same', format: 'original' },
      ],
    }));

    // WHEN
    await p.handleEvent(event(record('uploads/dir/x.tar.jpeg')));

    // THEN
    expect(gets()).toHaveLength(1);
    const written = puts();
    expect(written.map((w) => [w.Key, w.ContentType])).toEqual([
      ['processed/thumb/dir/x.tar.png', 'image/png'],
      ['processed/web/dir/x.tar.webp', 'image/webp'],
      ['processed/same/dir/x.tar.jpg', 'image/jpeg'],
    ]);
    const decoded = await Promise.all(written.map((w) => decode(w.Body as Buffer)));
    expect(decoded.map((d) => [d.format, d.width, d.height])).toEqual([['png', 32, 32], ['webp', 60, 40], ['jpeg', 120, 80]]);
  });

  test('outputs record their source key and eTag', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/my+photo%C3%A9.jpg', { eTag: 'abc123' })));

    // THEN
    const md = puts()[0].Metadata ?? {};
    expect(decodeURIComponent(md['source-key'])).toBe('uploads/my photoé.jpg');
    expect(md['source-etag']).toBe('abc123');
    // S3 user metadata must be ASCII.
    expect(Object.values(md).every((v) => /^[\x20-\x7e]*$/.test(v))).toBe(true);
  });

  test('a duplicate event writes the same keys and the same bytes', async () => {
    // GIVEN
    const { p } = processor(config({ variants: [{ name: 'a', width: 50, format: 'png' }, { name: 'b', width: 40, height: 40, format: 'jpeg', grayscale: true }] }));
    const e = event(record('uploads/photo.jpg'));

    // WHEN
    await p.handleEvent(e);
    await p.handleEvent(e);

    // THEN
    const written = puts();
    expect(written).toHaveLength(4);
    expect(written.slice(2).map((w) => w.Key)).toEqual(written.slice(0, 2).map((w) => w.Key));
    expect(Buffer.compare(written[0].Body as Buffer, written[2].Body as Buffer)).toBe(0);
    expect(Buffer.compare(written[1].Body as Buffer, written[3].Body as Buffer)).toBe(0);
  });

  test('several records are all processed, each with its own key', async () => {
    // GIVEN
    const { p } = processor(config({ concurrency: 3 }));

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/a.jpg'), record('uploads/b.jpg'), record('uploads/c.jpg'), record('uploads/d.jpg')));

    // THEN
    expect(outcomes.map((o) => o.status)).toEqual(['processed', 'processed', 'processed', 'processed']);
    expect(puts().map((w) => w.Key).sort()).toEqual(['a', 'b', 'c', 'd'].map((k) => `processed/grayscale-256/${k}.jpg`));
  });
});

describe('records that are skipped', () => {
  test("S3's test event makes no S3 call", async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent({ Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2025-01-01T00:00:00.000Z', Bucket: IN, RequestId: 'X', HostId: 'Y' });

    // THEN
    expect(outcomes).toEqual([]);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test.each([
    ['null', null],
    ['an empty object', {}],
    ['Records not an array', { Records: 'x' }],
  ])('an event that is %s makes no S3 call', async (_what, e) => {
    const { p } = processor();
    expect(await p.handleEvent(e)).toEqual([]);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test('a key outside the input prefix', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('elsewhere/photo.jpg'), record('uploadsX.jpg')));

    // THEN
    expect(outcomes.map((o) => o.status)).toEqual(['skipped', 'skipped']);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test('a folder marker (a zero-byte key ending in "/", as the S3 console makes) is skipped with a log line, no record and no metric', async () => {
    // GIVEN
    const { p, logs } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/holiday/', { size: 0 })));

    // THEN
    expect(outcomes).toEqual([expect.objectContaining({ status: 'skipped', key: 'uploads/holiday/' })]);
    expect(s3Mock.calls()).toHaveLength(0);
    expect(logs.filter((l) => l._aws !== undefined)).toEqual([]);
    expect(logs).toEqual([expect.objectContaining({ message: 'record skipped', key: 'uploads/holiday/', why: expect.stringMatching(/folder/) })]);
  });

  test('a zero-byte key that does not end in "/" is still an empty object with its failure record', async () => {
    const { p } = processor();
    const outcomes = await p.handleEvent(event(record('uploads/holiday', { size: 0 })));
    expect(outcomes).toEqual([expect.objectContaining({ status: 'rejected', reason: 'empty-object' })]);
  });

  test('a key under the output prefix in the output bucket (the processor must not trigger itself)', async () => {
    // GIVEN: one bucket, no input prefix, outputs under processed/.
    const { p } = processor(validatePipelineConfig({ outputBucket: 'shared', outputPrefix: 'processed/' }));

    // WHEN
    const outcomes = await p.handleEvent(event(
      record('processed/grayscale-256/photo.jpg', { bucket: 'shared' }),
      record('processed/_failed/bad.jpg.json', { bucket: 'shared' }),
    ));

    // THEN
    expect(outcomes.map((o) => o.status)).toEqual(['skipped', 'skipped']);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test('the same key in another bucket is processed', async () => {
    // GIVEN
    const { p } = processor(validatePipelineConfig({ outputBucket: 'shared', outputPrefix: 'processed/' }));

    // WHEN
    const outcomes = await p.handleEvent(event(record('processed/photo.jpg', { bucket: 'other' })));

    // THEN
    expect(outcomes.map((o) => o.status)).toEqual(['processed']);
    expect(puts().map((w) => w.Key)).toEqual(['processed/grayscale-256/processed/photo.jpg']);
  });

  test('an event that is not an upload', async () => {
    const { p } = processor();
    const outcomes = await p.handleEvent(event(record('uploads/a.jpg', { eventName: 'ObjectRemoved:Delete' })));
    expect(outcomes.map((o) => o.status)).toEqual(['skipped']);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test.each([
    ['412 PreconditionFailed (changed since the event)', s3Error('PreconditionFailed', 412)],
    ['404 NoSuchKey (deleted since the event)', new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' })],
    ['412 whatever the error is named', s3Error('UnknownError', 412)],
    ['404 whatever the error is named', s3Error('NotFound', 404)],
  ])('GetObject %s: skipped, nothing written', async (_what, error) => {
    // GIVEN
    s3Mock.on(GetObjectCommand).rejects(error);
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/a.jpg')));

    // THEN
    expect(outcomes.map((o) => o.status)).toEqual(['skipped']);
    expect(gets()).toHaveLength(1);
    expect(puts()).toHaveLength(0);
  });
});

describe('permanent failures', () => {
  test('an object of size 0 gets a failure record without being read', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/empty.jpg', { size: 0 })));

    // THEN
    expect(gets()).toHaveLength(0);
    const written = puts();
    expect(written.map((w) => w.Key)).toEqual(['processed/_failed/empty.jpg.json']);
    expect(failureRecordOf(written[0]).reason).toBe('empty-object');
    expect(outcomes).toEqual([expect.objectContaining({ status: 'rejected', reason: 'empty-object' })]);
  });

  test('an object larger than maxInputBytes gets a failure record without being read', async () => {
    // GIVEN
    const { p } = processor(config({ maxInputBytes: 1000 }));

    // WHEN
    await p.handleEvent(event(record('uploads/huge.jpg', { size: 1001 })));

    // THEN
    expect(gets()).toHaveLength(0);
    const written = puts();
    expect(written.map((w) => w.Key)).toEqual(['processed/_failed/huge.jpg.json']);
    expect(failureRecordOf(written[0])).toMatchObject({ reason: 'too-many-bytes', size: 1001 });
  });

  test('a corrupt body gets a complete failure record and no variant', async () => {
    // GIVEN
    const corrupt = truncate(await noisy(120, 90, 'jpeg'), 0.5);
    s3Mock.on(GetObjectCommand).resolves(getResponse(corrupt));
    const { p } = processor();
    const before = Date.now();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/dir/bad+photo.jpg', { eTag: 'e7a9', size: corrupt.length })));

    // THEN
    const written = puts();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ Bucket: OUT, Key: 'processed/_failed/dir/bad photo.jpg.json', ContentType: 'application/json' });
    const rec = failureRecordOf(written[0]);
    expect(rec).toMatchObject({ bucket: IN, key: 'uploads/dir/bad photo.jpg', eTag: 'e7a9', reason: 'corrupt-image' });
    expect(typeof rec.message).toBe('string');
    expect(rec.message.length).toBeGreaterThan(0);
    expect(new Date(rec.time).toISOString()).toBe(rec.time);
    expect(Date.parse(rec.time)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(rec.time)).toBeLessThanOrEqual(Date.now() + 1);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'rejected', reason: 'corrupt-image', failureRecord: 'processed/_failed/dir/bad photo.jpg.json' })]);
  });

  test.each([
    ['text', Buffer.from('not an image'), 'unsupported-format'],
    ['an empty body', Buffer.alloc(0), 'empty-object'],
  ])('a body that is %s: failure record with reason %s', async (_what, body, reason) => {
    // GIVEN
    s3Mock.on(GetObjectCommand).resolves(getResponse(body));
    const { p } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/x.jpg')));

    // THEN
    const written = puts();
    expect(written.map((w) => w.Key)).toEqual(['processed/_failed/x.jpg.json']);
    expect(failureRecordOf(written[0]).reason).toBe(reason);
  });

  test('a body with more pixels than allowed: failure record too-many-pixels', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).resolves(getResponse(image));
    const { p } = processor(config({ maxInputPixels: 120 * 80 - 1 }));

    // WHEN
    await p.handleEvent(event(record('uploads/x.jpg')));

    // THEN
    expect(failureRecordOf(puts()[0]).reason).toBe('too-many-pixels');
  });

  test('a rejection does not stop the other records', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/empty.jpg', { size: 0 }), record('uploads/good.jpg')));

    // THEN
    expect(outcomes.map((o) => o.status).sort()).toEqual(['processed', 'rejected']);
    expect(puts().map((w) => w.Key).sort()).toEqual(['processed/_failed/empty.jpg.json', 'processed/grayscale-256/good.jpg']);
  });
});

describe('transient failures', () => {
  test.each([
    ['500 InternalError', s3Error('InternalError', 500)],
    ['503 SlowDown (throttling)', s3Error('SlowDown', 503)],
    ['403 AccessDenied', s3Error('AccessDenied', 403)],
    ['a network timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })],
  ])('GetObject %s throws TransientFailure after the other records are done', async (_what, error) => {
    // GIVEN: the first record fails to read, the second reads fine; both objects are there.
    s3Mock.on(GetObjectCommand, { Key: 'uploads/bad.jpg' }).rejects(error);
    s3Mock.on(ListObjectsV2Command, { Prefix: 'uploads/bad.jpg' }).resolves({ Contents: [{ Key: 'uploads/bad.jpg' }] });
    const { p } = processor();

    // WHEN
    const run = p.handleEvent(event(record('uploads/bad.jpg'), record('uploads/good.jpg')));

    // THEN
    await expect(run).rejects.toBeInstanceOf(TransientFailure);
    const failure = await run.catch((e: TransientFailure) => e);
    expect((failure as TransientFailure).failures.map((f) => f.key)).toEqual(['uploads/bad.jpg']);
    expect(puts().map((w) => w.Key)).toEqual(['processed/grayscale-256/good.jpg']);
  });

  test('a 403 for an object deleted since its event (not listed any more) is a skip, not a failure', async () => {
    // GIVEN: S3 answers 403 for a missing key to a caller without an unconditioned s3:ListBucket
    s3Mock.on(GetObjectCommand).rejects(s3Error('AccessDenied', 403));
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'uploads/gone.jpg.bak' }] });
    const { p } = processor();

    // WHEN
    const outcomes = await p.handleEvent(event(record('uploads/gone.jpg')));

    // THEN: the listing asked for the key itself, under the input prefix the function may list
    expect(outcomes).toEqual([expect.objectContaining({ status: 'skipped', why: expect.stringMatching(/deleted/) })]);
    expect(s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([{ Bucket: IN, Prefix: 'uploads/gone.jpg', MaxKeys: 1 }]);
    expect(puts()).toEqual([]);
  });

  test('a transient failure writes no failure record', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).rejects(s3Error('InternalError', 500));
    const { p } = processor();

    // WHEN / THEN
    await expect(p.handleEvent(event(record('uploads/a.jpg')))).rejects.toThrow(TransientFailure);
    expect(puts()).toHaveLength(0);
  });

  test('a PutObject failure throws', async () => {
    // GIVEN
    s3Mock.on(PutObjectCommand).rejects(s3Error('SlowDown', 503));
    const { p } = processor();

    // WHEN / THEN
    await expect(p.handleEvent(event(record('uploads/a.jpg')))).rejects.toThrow(TransientFailure);
  });

  test('a failure record that cannot be written throws', async () => {
    // GIVEN
    s3Mock.on(PutObjectCommand).rejects(s3Error('InternalError', 500));
    const { p } = processor();

    // WHEN / THEN
    await expect(p.handleEvent(event(record('uploads/empty.jpg', { size: 0 })))).rejects.toThrow(TransientFailure);
  });

  test('the error message names the failed key', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).rejects(s3Error('InternalError', 500));
    const { p, logs } = processor();

    // WHEN / THEN
    await expect(p.handleEvent(event(record('uploads/my+photo.jpg')))).rejects.toThrow(/uploads\/my photo\.jpg/);
    expect(logs.some((l) => l.level === 'ERROR' && l.key === 'uploads/my photo.jpg')).toBe(true);
  });
});

describe('metrics', () => {
  /** The log entries that are CloudWatch embedded-metric-format documents. */
  function emf(logs: Record<string, unknown>[]) {
    return logs.filter((l) => l._aws !== undefined) as Array<Record<string, unknown> & {
      _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit?: string }[] }[] };
    }>;
  }

  /** Checks an EMF document against the format's rules; returns its metric names. */
  function validEmf(doc: ReturnType<typeof emf>[number]): string[] {
    expect(typeof doc._aws.Timestamp).toBe('number');
    expect(Math.abs(doc._aws.Timestamp - Date.now())).toBeLessThan(60_000);
    const names: string[] = [];
    for (const directive of doc._aws.CloudWatchMetrics) {
      expect(typeof directive.Namespace).toBe('string');
      expect(directive.Namespace.length).toBeGreaterThan(0);
      for (const set of directive.Dimensions) {
        for (const dim of set) {
          expect(typeof doc[dim]).toBe('string');
        }
      }
      for (const m of directive.Metrics) {
        expect(typeof doc[m.Name]).toBe('number');
        names.push(m.Name);
      }
    }
    return names;
  }

  test('a processed image counts in ImagesProcessed', async () => {
    // GIVEN
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/a.jpg')));

    // THEN
    const docs = emf(logs);
    expect(docs).toHaveLength(1);
    expect(validEmf(docs[0])).toEqual(['ImagesProcessed']);
    expect(docs[0].ImagesProcessed).toBe(1);
  });

  test('a rejected image counts in ImagesRejected', async () => {
    // GIVEN
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/a.jpg', { size: 0 })));

    // THEN
    const docs = emf(logs);
    expect(docs).toHaveLength(1);
    expect(validEmf(docs[0])).toEqual(['ImagesRejected']);
    expect(docs[0].ImagesRejected).toBe(1);
  });

  test('the rejection is logged with its reason', async () => {
    // GIVEN
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent(event(record('uploads/a.jpg', { size: 0 })));

    // THEN
    expect(logs.some((l) => l.level === 'WARN' && l.key === 'uploads/a.jpg' && l.reason === 'empty-object')).toBe(true);
  });

  test('skips and transient failures emit no metric', async () => {
    // GIVEN
    s3Mock.on(GetObjectCommand).rejects(s3Error('InternalError', 500));
    const { p, logs } = processor();

    // WHEN
    await p.handleEvent(event(record('elsewhere/a.jpg'), record('uploads/b.jpg'))).catch(() => undefined);

    // THEN
    expect(emf(logs)).toHaveLength(0);
  });
});

describe('queue mode (SQS messages holding S3 notifications)', () => {
  function sqs(...bodies: string[]) {
    return {
      Records: bodies.map((body, i) => ({
        messageId: `m${i}`,
        receiptHandle: `r${i}`,
        body,
        attributes: {},
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:uploads',
        awsRegion: 'us-east-1',
      })),
    };
  }

  test('processes each message and reports none failed when all succeed', async () => {
    // GIVEN
    const { p } = processor();

    // WHEN
    const res = await p.handleSqsEvent(sqs(JSON.stringify(event(record('uploads/a.jpg'))), JSON.stringify(event(record('uploads/b+c.jpg')))));

    // THEN
    expect(res.batchItemFailures).toEqual([]);
    expect(puts().map((x) => x.Key).sort()).toEqual(['processed/grayscale-256/a.jpg', 'processed/grayscale-256/b c.jpg']);
  });

  test('ignores the s3:TestEvent S3 sends when the notification is set up', async () => {
    const { p } = processor();
    const res = await p.handleSqsEvent(sqs(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: IN })));
    expect(res.batchItemFailures).toEqual([]);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test('reports only the message whose record failed transiently, after processing the others', async () => {
    // GIVEN: the second object cannot be read (S3 500)
    s3Mock.on(GetObjectCommand, { Key: 'uploads/bad.jpg' }).rejects(s3Error('InternalError', 500));
    const { p } = processor();

    // WHEN
    const res = await p.handleSqsEvent(sqs(JSON.stringify(event(record('uploads/good.jpg'))), JSON.stringify(event(record('uploads/bad.jpg')))));

    // THEN
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(puts().map((x) => x.Key)).toEqual(['processed/grayscale-256/good.jpg']);
  });

  test('leaves messages that are not S3 notifications for the failure queue', async () => {
    const { p, logs } = processor();
    const res = await p.handleSqsEvent(sqs('not json', JSON.stringify({ hello: 'world' })));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }]);
    expect(logs.filter((l) => l.level === 'ERROR')).toHaveLength(2);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  test('a rejected image is not a batch failure: it ends as a failure record', async () => {
    s3Mock.on(GetObjectCommand).resolves(getResponse(Buffer.from('not an image at all')));
    const { p } = processor();
    const res = await p.handleSqsEvent(sqs(JSON.stringify(event(record('uploads/x.jpg')))));
    expect(res.batchItemFailures).toEqual([]);
    expect(puts().map((x) => x.Key)).toEqual(['processed/_failed/x.jpg.json']);
  });
});

describe('EventBridge events', () => {
  const ebMock = mockClient(EventBridgeClient);
  const EVENTS = { events: { eventBusName: 'images-bus', source: 'image-preprocessing-pipeline' } };

  beforeEach(() => {
    ebMock.reset();
    ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] });
  });

  function withEvents(extra: Record<string, unknown> = {}) {
    return new ImageProcessor(new S3Client({ region: 'us-east-1' }), config({ ...EVENTS, ...extra }), () => undefined, undefined,
      new EventBridgeClient({ region: 'us-east-1' }));
  }

  function sent() {
    return ebMock.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
  }

  test('an ImageProcessed event names the input and every output with its size, after the outputs are written', async () => {
    // GIVEN
    const p = withEvents({ variants: [{ name: 'small', width: 32, height: 32, format: 'png' }, { name: 'gray', width: 64, grayscale: true }] });

    // WHEN
    await p.handleEvent(event(record('uploads/cat+photo.jpg', { eTag: 'abc' })));

    // THEN
    const entries = sent();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ Source: 'image-preprocessing-pipeline', DetailType: 'ImageProcessed', EventBusName: 'images-bus' });
    const detail = JSON.parse(entries[0].Detail!);
    expect(detail).toMatchObject({ bucket: IN, key: 'uploads/cat photo.jpg', eTag: 'abc', outputBucket: OUT });
    const written = puts();
    expect(detail.outputs.map((o: { key: string }) => o.key).sort()).toEqual(written.map((w) => w.Key).sort());
    for (const o of detail.outputs) {
      const body = written.find((w) => w.Key === o.key)!.Body as Buffer;
      expect(o.bytes).toBe(body.length);
      const d = await decode(body);
      expect([o.width, o.height, o.format]).toEqual([d.width, d.height, d.format]);
    }
  });

  test('an ImageRejected event carries the reason and the failure record', async () => {
    s3Mock.on(GetObjectCommand).resolves(getResponse(Buffer.from('plain text, not an image')));
    await withEvents().handleEvent(event(record('uploads/notes.jpg')));
    const entries = sent();
    expect(entries.map((e) => e.DetailType)).toEqual(['ImageRejected']);
    expect(JSON.parse(entries[0].Detail!)).toMatchObject({ key: 'uploads/notes.jpg', reason: 'unsupported-format', failureRecord: 'processed/_failed/notes.jpg.json' });
  });

  test('a refused event fails the record, so it is retried rather than lost', async () => {
    ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] });
    await expect(withEvents().handleEvent(event(record('uploads/a.jpg')))).rejects.toThrow(/InternalFailure/);
  });

  test('no events are sent when the config has none, even with a client', async () => {
    const p = new ImageProcessor(new S3Client({ region: 'us-east-1' }), config(), () => undefined, undefined, new EventBridgeClient({ region: 'us-east-1' }));
    await p.handleEvent(event(record('uploads/a.jpg')));
    expect(sent()).toEqual([]);
    expect(puts()).toHaveLength(1);
  });
});
