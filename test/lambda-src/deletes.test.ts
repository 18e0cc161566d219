/**
 * Deletes (processDeletes): an input's ObjectRemoved event removes its outputs, manifest and
 * failure record, ordered by the sequencer as uploads are. The orders are injected by holding one
 * event's S3 command until the other event is done.
 */
import { FakeS3 } from './fake-s3';
import { BLUE, RED, solid } from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { ImageProcessor } from '../../lambda-src/processor';
import { s3EventRecord, type S3EventRecord } from '../../lambda-src/s3-event';

const IN = 'in';
const OUT = 'out';
const KEY = 'uploads/photo.jpg';
const OUTPUT = 'grayscale-256/photo.jpg';
const MANIFEST = '_manifests/photo.jpg.json';
const FAILURE = '_failed/photo.jpg.json';
const TOMBSTONE = '_deleted/photo.jpg.json';

let s3: FakeS3;
beforeEach(() => { s3 = new FakeS3(); });
afterEach(() => s3.restore());

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'uploads/', processDeletes: true, manifest: true, ...extra });
}

async function upload(body: Buffer | 'bad', sequencer: string): Promise<S3EventRecord> {
  const bytes = body === 'bad' ? Buffer.from('not an image') : body;
  return s3EventRecord({ bucket: IN, key: KEY, size: bytes.length, eTag: s3.upload(IN, KEY, bytes), sequencer });
}

function removal(sequencer: string): S3EventRecord {
  s3.objects.delete(`${IN}/${KEY}`);
  return s3EventRecord({ bucket: IN, key: KEY, eventName: 'ObjectRemoved:Delete', sequencer });
}

function processors(cfg = config()) {
  return {
    a: new ImageProcessor(s3.client('a'), cfg, () => undefined),
    b: new ImageProcessor(s3.client('b'), cfg, () => undefined),
  };
}

const sequencerOf = (key: string) => s3.object(OUT, key)?.metadata['source-sequencer'];

describe('a delete after an upload', () => {
  test('removes the outputs and the manifest and leaves a tombstone with the delete\'s sequencer', async () => {
    const { a } = processors();
    await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
    expect(s3.keys(OUT)).toEqual([MANIFEST, OUTPUT]);

    const outcome = await a.processRecord(removal('0020'));

    expect(outcome).toMatchObject({ status: 'deleted', removed: [OUTPUT, MANIFEST], tombstone: TOMBSTONE });
    expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
    expect(JSON.parse(s3.object(OUT, TOMBSTONE)!.body.toString('utf8'))).toMatchObject({ key: KEY, sequencer: '0020', eventName: 'ObjectRemoved:Delete' });
    expect(sequencerOf(TOMBSTONE)).toBe('0020');
  });

  test('removes a rejected upload\'s failure record', async () => {
    const { a } = processors();
    await a.processRecord(await upload('bad', '0010'));
    expect(s3.keys(OUT)).toEqual([FAILURE]);
    await a.processRecord(removal('0020'));
    expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
  });

  test('then a re-upload: the new outputs, and the tombstone is gone', async () => {
    const { a } = processors();
    await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
    await a.processRecord(removal('0020'));
    await a.processRecord(await upload(await solid(320, 240, BLUE, 'jpeg'), '0030'));
    expect(s3.keys(OUT)).toEqual([MANIFEST, OUTPUT]);
    expect(sequencerOf(OUTPUT)).toBe('0030');
  });
});

describe('events out of order', () => {
  test('an older upload\'s event arriving after the delete brings nothing back', async () => {
    const { a, b } = processors();
    const olderUpload = await upload(await solid(320, 240, RED, 'jpeg'), '0010');
    // the delete happens and is handled before the upload's event runs; the object is gone
    await b.processRecord(removal('0020'));
    // the upload event finds the object gone (skipped), or, had it read it, would give way to the tombstone
    s3.upload(IN, KEY, await solid(320, 240, RED, 'jpeg')); // the same bytes read by a slow event
    const outcome = await a.processRecord(olderUpload);
    expect(outcome).toMatchObject({ status: 'skipped', why: expect.stringMatching(/superseded/) });
    expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
  });

  test('an older upload that wrote its outputs, held before its tombstone check while the delete runs: it takes them back', async () => {
    // GIVEN the upload's event has written its output and looked for a failure record
    const { a, b } = processors();
    const event = await upload(await solid(320, 240, RED, 'jpeg'), '0010');
    const failureLook = s3.hold('a', 'HeadObject');
    const pending = a.processRecord(event);
    await failureLook.reached;
    failureLook.release();
    const tombstoneLook = s3.hold('a', 'HeadObject');
    await tombstoneLook.reached;
    // WHEN the delete runs whole, then the upload goes on
    await b.processRecord(removal('0020'));
    tombstoneLook.release();
    // THEN
    expect(await pending).toMatchObject({ status: 'skipped' });
    expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
  });

  test('an older rejected upload held before its tombstone check: its failure record goes', async () => {
    const { a, b } = processors();
    const event = await upload('bad', '0010');
    // the rejected upload has written its failure record; it looks at the output, the manifest, then the tombstone
    const holds = [s3.hold('a', 'HeadObject'), s3.hold('a', 'HeadObject')];
    const pending = a.processRecord(event);
    for (const h of holds) { await h.reached; h.release(); }
    const tombstoneLook = s3.hold('a', 'HeadObject');
    await tombstoneLook.reached;
    await b.processRecord(removal('0020'));
    tombstoneLook.release();
    expect(await pending).toMatchObject({ status: 'skipped' });
    expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
  });

  test('a delete held after writing its tombstone while a newer upload runs whole: the delete gives way', async () => {
    // GIVEN an upload processed, then deleted; the delete has written its tombstone
    const { a, b } = processors();
    await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
    const deleteEvent = removal('0020');
    const firstLook = s3.hold('b', 'HeadObject');
    const pending = b.processRecord(deleteEvent);
    await firstLook.reached;
    // WHEN a newer upload (after the delete) runs whole, then the delete goes on
    await a.processRecord(await upload(await solid(320, 240, BLUE, 'jpeg'), '0030'));
    firstLook.release();
    // THEN
    expect(await pending).toMatchObject({ status: 'skipped', why: expect.stringMatching(/superseded/) });
    expect(s3.keys(OUT)).toEqual([MANIFEST, OUTPUT]);
    expect(sequencerOf(OUTPUT)).toBe('0030');
  });

  test('a delete whose event runs after the re-upload\'s: the re-upload\'s outputs stay', async () => {
    const { a } = processors();
    await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
    const deleteEvent = removal('0020');
    await a.processRecord(await upload(await solid(320, 240, BLUE, 'jpeg'), '0030'));
    expect(await a.processRecord(deleteEvent)).toMatchObject({ status: 'skipped' });
    expect(s3.keys(OUT)).toEqual([MANIFEST, OUTPUT]);
    expect(sequencerOf(OUTPUT)).toBe('0030');
  });

  test('two deletes out of order: the newer tombstone stays', async () => {
    const { a } = processors();
    const older = removal('0020');
    await a.processRecord(removal('0040'));
    expect(await a.processRecord(older)).toMatchObject({ status: 'skipped' });
    expect(sequencerOf(TOMBSTONE)).toBe('0040');
  });
});

test('in queue mode, a delete in an SQS message removes the results as a direct event does', async () => {
  const { a } = processors();
  await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
  const response = await a.handleSqsEvent({ Records: [{ messageId: 'm1', eventSource: 'aws:sqs', body: JSON.stringify({ Records: [removal('0020')] }) }] });
  expect(response.batchItemFailures).toEqual([]);
  expect(response.outcomes).toEqual([expect.objectContaining({ status: 'deleted' })]);
  expect(s3.keys(OUT)).toEqual([TOMBSTONE]);
});

test('with processDeletes off, an ObjectRemoved event is skipped and nothing is removed', async () => {
  const { a } = processors(config({ processDeletes: undefined }));
  await a.processRecord(await upload(await solid(320, 240, RED, 'jpeg'), '0010'));
  expect(await a.processRecord(removal('0020'))).toMatchObject({ status: 'skipped', why: expect.stringMatching(/not an upload/) });
  expect(s3.keys(OUT)).toEqual([MANIFEST, OUTPUT]);
});
