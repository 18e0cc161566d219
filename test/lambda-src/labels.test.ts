/**
 * Labels: Amazon Rekognition DetectLabels on the input object by S3 reference, mocked with
 * aws-sdk-client-mock; the labels land in the manifest and the ImageProcessed event.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DetectLabelsCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { mockClient } from 'aws-sdk-client-mock';
import { FakeS3 } from './fake-s3';
import { RED, solid } from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { LABELS_NEED_AWS, LabelDetector, newRekognitionClient, REKOGNITION_MAX_BYTES } from '../../lambda-src/labels';
import { ImageProcessor } from '../../lambda-src/processor';
import { s3EventRecord } from '../../lambda-src/s3-event';

const IN = 'in';
const OUT = 'out';
const KEY = 'uploads/cat photo.jpg';
const MANIFEST = '_manifests/cat photo.jpg.json';

let s3: FakeS3;
let rekognition: ReturnType<typeof mockClient>;
let events: ReturnType<typeof mockClient>;
beforeEach(() => {
  s3 = new FakeS3();
  rekognition = mockClient(RekognitionClient);
  events = mockClient(EventBridgeClient);
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
});
afterEach(() => {
  s3.restore();
  rekognition.restore();
  events.restore();
});

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({
    inputBucket: IN,
    outputBucket: OUT,
    inputPrefix: 'uploads/',
    manifest: true,
    events: { eventBusName: 'default' },
    labels: { minConfidence: 80, maxLabels: 5 },
    ...extra,
  });
}

function processor(cfg = config(), logs: Record<string, unknown>[] = []): ImageProcessor {
  const detector = cfg.labels ? new LabelDetector(cfg.labels, () => newRekognitionClient()) : undefined;
  return new ImageProcessor(s3.client('p'), cfg, (e) => logs.push(e), undefined, new EventBridgeClient({ region: 'us-east-1' }), { labels: detector });
}

async function process(p: ImageProcessor, body: Buffer) {
  return p.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: body.length, eTag: s3.upload(IN, KEY, body), sequencer: '0010' }));
}

function manifest(): Record<string, unknown> {
  return JSON.parse(s3.object(OUT, MANIFEST)!.body.toString('utf8'));
}

function eventDetail(): Record<string, unknown> {
  return JSON.parse((events.commandCalls(PutEventsCommand)[0].args[0].input as { Entries: { Detail: string }[] }).Entries[0].Detail);
}

test('DetectLabels reads the object by S3 reference, with the configured confidence and count; the labels go to the manifest and the event', async () => {
  // GIVEN
  rekognition.on(DetectLabelsCommand).resolves({ Labels: [{ Name: 'Cat', Confidence: 98.123456 }, { Name: 'Pet', Confidence: 91.5 }] });
  // WHEN
  const outcome = await process(processor(), await solid(320, 240, RED, 'jpeg'));
  // THEN
  expect(outcome.status).toBe('processed');
  const calls = rekognition.commandCalls(DetectLabelsCommand);
  expect(calls).toHaveLength(1);
  expect(calls[0].args[0].input).toEqual({ Image: { S3Object: { Bucket: IN, Name: KEY } }, MinConfidence: 80, MaxLabels: 5 });
  const labels = [{ name: 'Cat', confidence: 98.12 }, { name: 'Pet', confidence: 91.5 }];
  expect(manifest().labels).toEqual(labels);
  expect(eventDetail().labels).toEqual(labels);
});

test('a PNG is labelled; a WebP is not sent to Rekognition, and the manifest says why', async () => {
  rekognition.on(DetectLabelsCommand).resolves({ Labels: [{ Name: 'Red', Confidence: 90 }] });
  await process(processor(), await solid(64, 64, RED, 'png'));
  expect(manifest().labels).toEqual([{ name: 'Red', confidence: 90 }]);

  rekognition.resetHistory();
  await process(processor(), await solid(64, 64, RED, 'webp'));
  expect(rekognition.commandCalls(DetectLabelsCommand)).toHaveLength(0);
  expect(manifest()).toMatchObject({ labelsSkipped: expect.stringMatching(/JPEG and PNG/) });
  expect(manifest().labels).toBeUndefined();
});

test('an image Rekognition refuses is processed without labels, saying why', async () => {
  rekognition.on(DetectLabelsCommand).rejects(Object.assign(new Error('Request has invalid image format'), { name: 'InvalidImageFormatException' }));
  expect((await process(processor(), await solid(320, 240, RED, 'jpeg'))).status).toBe('processed');
  expect(manifest()).toMatchObject({ labelsSkipped: expect.stringMatching(/InvalidImageFormatException/) });
});

test('throttling is transient: the record throws before anything is written, so it is retried', async () => {
  rekognition.on(DetectLabelsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
  await expect(process(processor(), await solid(320, 240, RED, 'jpeg'))).rejects.toThrow(/Rate exceeded/);
  expect(s3.keys(OUT)).toEqual([]);
  expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
});

test('an object over 15 MB is not sent', async () => {
  const detector = new LabelDetector({ minConfidence: 55, maxLabels: 10 }, () => newRekognitionClient());
  const outcome = await detector.detect(IN, KEY, Buffer.alloc(REKOGNITION_MAX_BYTES + 1, 0xff));
  expect(outcome.skipped).toMatch(/at most/);
  expect(rekognition.commandCalls(DetectLabelsCommand)).toHaveLength(0);
});

test('without Rekognition (the local mode) the processor says labels need AWS and writes none', async () => {
  const logs: Record<string, unknown>[] = [];
  const cfg = config();
  const p = new ImageProcessor(s3.client('p'), cfg, (e) => logs.push(e), undefined, new EventBridgeClient({ region: 'us-east-1' }));
  expect(logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: LABELS_NEED_AWS }));
  await process(p, await solid(320, 240, RED, 'jpeg'));
  expect(manifest().labels).toBeUndefined();
  expect(eventDetail().labels).toBeUndefined();
  expect(rekognition.commandCalls(DetectLabelsCommand)).toHaveLength(0);
});

test('labels without the manifest go in the event only', async () => {
  rekognition.on(DetectLabelsCommand).resolves({ Labels: [{ Name: 'Cat', Confidence: 99 }] });
  await process(processor(config({ manifest: undefined })), await solid(320, 240, RED, 'jpeg'));
  expect(s3.keys(OUT)).toEqual(['grayscale-256/cat photo.jpg']);
  expect(eventDetail()).toMatchObject({ labels: [{ name: 'Cat', confidence: 99 }] });
  expect(eventDetail().manifest).toBeUndefined();
});
