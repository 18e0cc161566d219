/**
 * Backfill: objects that were in the input bucket before the pipeline are processed on demand,
 * through the Lambda Invoke API, resumably. Run against the local mode on 127.0.0.1.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { backfill, backfillEvent } from '../lambda-src/local/cli/backfill';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';
import { S3Server } from '../lambda-src/local/s3/server';
import { decodeKey } from '../lambda-src/s3-event';

jest.setTimeout(90_000);
const CLI = path.join(__dirname, '..', 'assets', 'lambda-src', 'local', 'cli', 'index.js');
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

let tmp: string;
let dataDir: string;
const OLD_KEYS = Array.from({ length: 23 }, (_, i) => `old/photo ${String(i).padStart(2, '0')}${i % 5 === 0 ? ' é' : ''}.jpg`);

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'backfill-'));
  dataDir = path.join(tmp, 'data');
  // Objects written before any pipeline existed: no event was ever sent for them.
  const seed = new S3Server({ dataDir, buckets: ['input', 'output'] });
  const s3 = new S3Client({ endpoint: await seed.start(), region: 'us-east-1', forcePathStyle: true, credentials });
  const body = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#446688' } }).jpeg().toBuffer();
  for (const key of [...OLD_KEYS, 'elsewhere/not-me.jpg']) await s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: body }));
  await seed.stop();
  s3.destroy();
});

afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function outputs(s3: S3Client): Promise<string[]> {
  return ((await s3.send(new ListObjectsV2Command({ Bucket: 'output' }))).Contents ?? []).map((c) => c.Key!).sort();
}

test('the event for an object is the one S3 would have sent', () => {
  const e = backfillEvent('input', 'a b+c/é.jpg', 42, '"abc"');
  expect(e.Records[0]).toMatchObject({
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    s3: { bucket: { name: 'input', arn: 'arn:aws:s3:::input' }, object: { key: 'a+b%2Bc/%C3%A9.jpg', size: 42, eTag: 'abc' } },
  });
});

test('a backfill cut short by --limit goes on from its state file, sending every object once', async () => {
  // GIVEN: a pipeline started after the objects were written
  const pipeline = new LocalPipeline({ dataDir, concurrency: 2 });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  const lambda = new LambdaClient({ endpoint: pipeline.apiEndpoint, region: 'us-east-1', credentials });
  const invoked: string[] = [];
  pipeline.on('invoke', (e: { Records: { s3: { object: { key: string } } }[] }) => invoked.push(decodeKey(e.Records[0].s3.object.key)));
  const state = path.join(tmp, 'state.json');
  try {
    expect(await outputs(s3)).toEqual([]);

    // WHEN: a first run stops after 10 objects
    const first = await backfill({ s3, lambda, functionName: pipeline.functionName, bucket: 'input', prefix: 'old/', stateFile: state, limit: 10, pageSize: 4 });
    // and a second run goes on from the state file
    const second = await backfill({ s3, lambda, functionName: pipeline.functionName, bucket: 'input', prefix: 'old/', stateFile: state, pageSize: 4 });
    await pipeline.idle();

    // THEN
    expect([first.sent, first.complete, second.sent, second.complete, second.total]).toEqual([10, false, 13, true, 23]);
    expect(invoked.sort()).toEqual([...OLD_KEYS].sort());
    expect(await outputs(s3)).toEqual(OLD_KEYS.map((k) => `grayscale-256/${k}`).sort());
    expect(JSON.parse(fs.readFileSync(state, 'utf8'))).toMatchObject({ bucket: 'input', prefix: 'old/', sent: 23 });
  } finally {
    await pipeline.stop(5_000);
    s3.destroy();
    lambda.destroy();
  }
});

test('the local Lambda API takes asynchronous invocations only', async () => {
  const pipeline = new LocalPipeline({ dataDir, concurrency: 1 });
  await pipeline.start();
  const lambda = new LambdaClient({ endpoint: pipeline.apiEndpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    await expect(lambda.send(new InvokeCommand({ FunctionName: pipeline.functionName, Payload: Buffer.from('{}') })))
      .rejects.toThrow(/asynchronous invocations only/);
  } finally {
    await pipeline.stop(5_000);
    lambda.destroy();
  }
});

test('image-pipeline backfill, as a user runs it against serve', async () => {
  const pipeline = new LocalPipeline({ dataDir, concurrency: 2 });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  try {
    const { stdout } = await promisify(execFile)('node', [CLI, 'backfill', '--bucket', 'input', '--prefix', 'old/',
      '--function', 'image-pipeline', '--endpoint', endpoint, '--lambda-endpoint', pipeline.apiEndpoint]);
    expect(stdout).toMatch(/^23 objects sent to image-pipeline in [\d.]+ s; nothing left under the prefix/);
    await pipeline.idle();
    expect(await outputs(s3)).toHaveLength(23);
  } finally {
    await pipeline.stop(5_000);
    s3.destroy();
  }
});
