/**
 * The Lambda entry point with the opt-in features: it answers S3 Batch Operations invocations, and
 * it makes a Rekognition client for labels on AWS but not in the local mode. Each test loads a
 * fresh copy of the module (and of the SDK clients, so that the mocks apply to the classes it uses).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { DetectLabelsCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { mockClient } from 'aws-sdk-client-mock';
import { solid, TEAL } from './images';

type HandlerModule = typeof import('../../lambda-src/process-image.lambda');
type S3Module = typeof import('@aws-sdk/client-s3');
type MockModule = typeof import('aws-sdk-client-mock');

const ENV_KEYS = ['PIPELINE_CONFIG', 'PIPELINE_S3_ENDPOINT', 'AWS_REGION'];
const saved: Record<string, string | undefined> = {};
beforeAll(() => { for (const k of ENV_KEYS) saved[k] = process.env[k]; });
// The handler loads the Rekognition SDK when it first asks for labels, after its own load: from the
// test's module registry, where this mock is.
const rekognitionMock = mockClient(RekognitionClient);
afterAll(() => rekognitionMock.restore());
afterEach(() => {
  rekognitionMock.reset();
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  jest.restoreAllMocks();
});

interface Loaded {
  readonly handler: HandlerModule['handler'];
  readonly s3: S3Module;
  readonly s3Mock: ReturnType<MockModule['mockClient']>;
  readonly stdout: string[];
}

function load(config: Record<string, unknown>, endpoint?: string): Loaded {
  process.env.PIPELINE_CONFIG = JSON.stringify({ inputBucket: 'in', outputBucket: 'out', ...config });
  if (endpoint) process.env.PIPELINE_S3_ENDPOINT = endpoint;
  else delete process.env.PIPELINE_S3_ENDPOINT;
  process.env.AWS_REGION = 'us-east-1';
  const stdout: string[] = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  let loaded: Loaded | undefined;
  jest.isolateModules(() => {
    const s3 = require('@aws-sdk/client-s3') as S3Module;
    const isolated = require('aws-sdk-client-mock') as MockModule;
    const s3Mock = isolated.mockClient(s3.S3Client);
    const mod = require('../../lambda-src/process-image.lambda') as HandlerModule;
    loaded = { handler: mod.handler, s3, s3Mock, stdout };
  });
  return loaded!;
}

/** S3 as the handler sees one stored JPEG: HeadObject, GetObject, and writes where nothing is. */
async function oneObject(l: Loaded): Promise<void> {
  const body = await solid(64, 64, TEAL, 'jpeg');
  l.s3Mock.on(l.s3.HeadObjectCommand, { Bucket: 'in' }).resolves({ ETag: '"abc"', ContentLength: body.length });
  l.s3Mock.on(l.s3.HeadObjectCommand, { Bucket: 'out' }).rejects(Object.assign(new Error('Forbidden'), { $metadata: { httpStatusCode: 403 } }));
  l.s3Mock.on(l.s3.GetObjectCommand).resolves({ ETag: '"abc"', Body: { transformToByteArray: async () => new Uint8Array(body) } } as never);
  l.s3Mock.on(l.s3.PutObjectCommand).resolves({ ETag: '"out"' });
}

test('an S3 Batch Operations invocation gets one result per task', async () => {
  const l = load({});
  await oneObject(l);
  const response = await l.handler({
    invocationSchemaVersion: '2.0',
    invocationId: 'i',
    job: { id: 'j' },
    tasks: [{ taskId: 't', s3Bucket: 'in', s3Key: 'a.jpg', s3VersionId: null }],
  });
  expect(response).toEqual({
    invocationSchemaVersion: '2.0',
    treatMissingKeysAs: 'TemporaryFailure',
    invocationId: 'i',
    results: [{ taskId: 't', resultCode: 'Succeeded', resultString: 'processed: grayscale-256/a.jpg' }],
  });
  expect(l.s3Mock.commandCalls(l.s3.GetObjectCommand)[0].args[0].input).toMatchObject({ Bucket: 'in', Key: 'a.jpg', IfMatch: '"abc"' });
});

test('on AWS, labels make a Rekognition client and ask it by S3 reference', async () => {
  const l = load({ labels: { minConfidence: 70, maxLabels: 3 } });
  await oneObject(l);
  rekognitionMock.on(DetectLabelsCommand).resolves({ Labels: [{ Name: 'Sky', Confidence: 99 }] });
  await l.handler({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'in' }, object: { key: 'a.jpg', size: 100, eTag: 'abc', sequencer: '01' } } }] });
  expect(rekognitionMock.commandCalls(DetectLabelsCommand).map((c) => c.args[0].input)).toEqual([
    { Image: { S3Object: { Bucket: 'in', Name: 'a.jpg' } }, MinConfidence: 70, MaxLabels: 3 },
  ]);
});

test('in the local mode (an S3 endpoint set), labels make no client, and the handler says they need AWS', async () => {
  const l = load({ labels: {} }, 'http://127.0.0.1:1');
  expect(l.stdout.join('')).toContain('labels need Amazon Rekognition on AWS: the local mode writes none');
  await oneObject(l);
  await l.handler({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'in' }, object: { key: 'a.jpg', size: 100, eTag: 'abc', sequencer: '01' } } }] });
  expect(rekognitionMock.commandCalls(DetectLabelsCommand)).toHaveLength(0);
});
