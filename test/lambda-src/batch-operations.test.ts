/**
 * S3 Batch Operations: the handler answers Batch's invocation schemas 1.0 and 2.0 task by task,
 * and a task, which carries no sequencer, never overwrites an upload event's results.
 */
import { FakeS3 } from './fake-s3';
import { BLUE, RED, solid } from './images';
import { handleBatchEvent, isBatchEvent, type BatchEvent } from '../../lambda-src/batch-operations';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { ImageProcessor } from '../../lambda-src/processor';
import { encodeEventKey, s3EventRecord } from '../../lambda-src/s3-event';

const IN = 'in';
const OUT = 'out';

let s3: FakeS3;
beforeEach(() => { s3 = new FakeS3(); });
afterEach(() => s3.restore());

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'uploads/', ...extra });
}

function v1(keys: string[], bucket = IN): BatchEvent {
  return {
    invocationSchemaVersion: '1.0',
    invocationId: 'inv-1',
    job: { id: 'job-1' },
    tasks: keys.map((k, i) => ({ taskId: `t${i}`, s3Key: encodeEventKey(k), s3VersionId: null, s3BucketArn: `arn:aws:s3:::${bucket}` })),
  };
}

function v2(keys: string[]): BatchEvent {
  return {
    invocationSchemaVersion: '2.0',
    invocationId: 'inv-2',
    job: { id: 'job-2', userArguments: {} },
    tasks: keys.map((k, i) => ({ taskId: `t${i}`, s3Key: encodeEventKey(k), s3VersionId: null, s3Bucket: IN })),
  };
}

test('schema 1.0: each task answered, by result code; the invocation echoed', async () => {
  // GIVEN a good image with spaces and a plus in its key, a bad one, and a key that is gone
  const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
  s3.upload(IN, 'uploads/a b+c.jpg', await solid(320, 240, RED, 'jpeg'));
  s3.upload(IN, 'uploads/bad.jpg', Buffer.from('not an image'));
  // WHEN
  const response = await handleBatchEvent(p, v1(['uploads/a b+c.jpg', 'uploads/bad.jpg', 'uploads/gone.jpg']), IN);
  // THEN
  expect(response).toMatchObject({ invocationSchemaVersion: '1.0', invocationId: 'inv-1', treatMissingKeysAs: 'TemporaryFailure' });
  expect(response.results).toEqual([
    { taskId: 't0', resultCode: 'Succeeded', resultString: 'processed: grayscale-256/a b+c.jpg' },
    { taskId: 't1', resultCode: 'PermanentFailure', resultString: expect.stringMatching(/^rejected: (unsupported-format|corrupt-image) \(_failed\/bad\.jpg\.json\)$/) },
    { taskId: 't2', resultCode: 'Succeeded', resultString: 'skipped: the object no longer exists' },
  ]);
  expect(s3.keys(OUT)).toEqual(['_failed/bad.jpg.json', 'grayscale-256/a b+c.jpg']);
});

test('schema 2.0: the bucket by name', async () => {
  const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
  s3.upload(IN, 'uploads/x.jpg', await solid(64, 64, RED, 'jpeg'));
  const response = await handleBatchEvent(p, v2(['uploads/x.jpg']), IN);
  expect(response).toMatchObject({ invocationSchemaVersion: '2.0', invocationId: 'inv-2', results: [{ taskId: 't0', resultCode: 'Succeeded' }] });
  expect(s3.keys(OUT)).toEqual(['grayscale-256/x.jpg']);
});

test('an S3 error is a temporary failure, which Batch retries; the other tasks still run', async () => {
  const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
  s3.upload(IN, 'uploads/x.jpg', await solid(64, 64, RED, 'jpeg'));
  s3.upload(IN, 'uploads/y.jpg', await solid(64, 64, RED, 'jpeg'));
  const put = s3.hold('p', 'PutObject');
  const pending = handleBatchEvent(p, v1(['uploads/x.jpg', 'uploads/y.jpg']), IN);
  await put.reached;
  // the first output write meets S3 failing: the bucket the FakeS3 write goes to is made to throw
  const original = s3.objects.set.bind(s3.objects);
  s3.objects.set = () => { s3.objects.set = original; throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' }); };
  put.release();
  const response = await pending;
  expect(response.results.map((r) => [r.taskId, r.resultCode])).toEqual([['t0', 'TemporaryFailure'], ['t1', 'Succeeded']]);
  expect(response.results[0].resultString).toMatch(/InternalError: We encountered an internal error/);
});

test('a task for another bucket is a permanent failure', async () => {
  const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
  const response = await handleBatchEvent(p, v1(['uploads/x.jpg'], 'someone-else'), IN);
  expect(response.results[0]).toMatchObject({ resultCode: 'PermanentFailure', resultString: expect.stringMatching(/not the pipeline's input bucket/) });
});

describe('ordering: a task has no sequencer', () => {
  test('it rewrites the results of the same object version (a changed variant, say)', async () => {
    const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
    const body = await solid(320, 240, RED, 'jpeg');
    const eTag = s3.upload(IN, 'uploads/x.jpg', body);
    await p.processRecord(s3EventRecord({ bucket: IN, key: 'uploads/x.jpg', size: body.length, eTag, sequencer: '0010' }));
    const before = s3.object(OUT, 'grayscale-256/x.jpg')!.eTag;
    const response = await handleBatchEvent(p, v1(['uploads/x.jpg']), IN);
    expect(response.results[0].resultCode).toBe('Succeeded');
    expect(s3.object(OUT, 'grayscale-256/x.jpg')!.eTag).not.toBe(before);
  });

  test('it never overwrites the results an upload event wrote for another version', async () => {
    // GIVEN outputs of an upload event, and a newer version whose event has not run yet
    const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
    const red = await solid(320, 240, RED, 'jpeg');
    await p.processRecord(s3EventRecord({ bucket: IN, key: 'uploads/x.jpg', size: red.length, eTag: s3.upload(IN, 'uploads/x.jpg', red), sequencer: '0010' }));
    s3.upload(IN, 'uploads/x.jpg', await solid(320, 240, BLUE, 'jpeg'));
    // WHEN a Batch task runs on the key
    const response = await handleBatchEvent(p, v1(['uploads/x.jpg']), IN);
    // THEN it gives way; the event's results stay, for the newer version's own event to replace
    expect(response.results[0]).toMatchObject({ resultCode: 'Succeeded', resultString: expect.stringMatching(/^skipped: superseded/) });
    expect(s3.object(OUT, 'grayscale-256/x.jpg')!.metadata['source-sequencer']).toBe('0010');
  });

  test('a task held before its write while a newer upload\'s event runs whole: the task gives way', async () => {
    // GIVEN a task that has read the current version and waits before writing its output
    const p = new ImageProcessor(s3.client('task'), config(), () => undefined);
    const event = new ImageProcessor(s3.client('event'), config(), () => undefined);
    s3.upload(IN, 'uploads/x.jpg', await solid(320, 240, RED, 'jpeg'));
    const write = s3.hold('task', 'PutObject');
    const pending = handleBatchEvent(p, v1(['uploads/x.jpg']), IN);
    await write.reached;
    // WHEN a newer version is uploaded and its event runs, then the task goes on
    const blue = await solid(320, 240, BLUE, 'jpeg');
    await event.processRecord(s3EventRecord({ bucket: IN, key: 'uploads/x.jpg', size: blue.length, eTag: s3.upload(IN, 'uploads/x.jpg', blue), sequencer: '0030' }));
    write.release();
    // THEN the event's output stays
    expect((await pending).results[0]).toMatchObject({ resultCode: 'Succeeded', resultString: expect.stringMatching(/^skipped: superseded/) });
    expect(s3.object(OUT, 'grayscale-256/x.jpg')!.metadata['source-sequencer']).toBe('0030');
  });

  test('it does not bring a deleted key\'s outputs back', async () => {
    const cfg = config({ processDeletes: true });
    const p = new ImageProcessor(s3.client('p'), cfg, () => undefined);
    // the key was deleted (tombstone), and the same bytes were read by a task listed before the delete
    s3.upload(IN, 'uploads/x.jpg', await solid(64, 64, RED, 'jpeg'));
    await p.processRecord(s3EventRecord({ bucket: IN, key: 'uploads/x.jpg', eventName: 'ObjectRemoved:Delete', sequencer: '0020' }));
    const response = await handleBatchEvent(p, v1(['uploads/x.jpg']), IN);
    expect(response.results[0].resultString).toMatch(/^skipped: superseded/);
    expect(s3.keys(OUT)).toEqual(['_deleted/x.jpg.json']);
  });
});

test('isBatchEvent tells Batch invocations from S3 and SQS events', () => {
  expect(isBatchEvent(v1(['a']))).toBe(true);
  expect(isBatchEvent({ Records: [] })).toBe(false);
  expect(isBatchEvent(null)).toBe(false);
});
