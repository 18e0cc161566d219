/**
 * `image-pipeline backfill --batch`: the S3 Batch Operations job, created with S3 Control (mocked
 * with aws-sdk-client-mock: job creation cannot run here), after a dry run that counts the objects,
 * enforces the cap and estimates the cost. The dry run also runs against the local mode.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { gzipSync } from 'zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateJobCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import { mockClient } from 'aws-sdk-client-mock';
import { batchBackfill, estimate, manifestKey } from '../lambda-src/local/cli/batch-backfill';
import { S3Server } from '../lambda-src/local/s3/server';

const CLI = path.join(__dirname, '..', 'assets', 'lambda-src', 'local', 'cli', 'index.js');
const FUNCTION = 'arn:aws:lambda:eu-west-1:111122223333:function:Images-Processor';
const ROLE = 'arn:aws:iam::111122223333:role/Images-BatchOperationsRole';

let s3Mock: ReturnType<typeof mockClient>;
let controlMock: ReturnType<typeof mockClient>;
beforeEach(() => {
  s3Mock = mockClient(S3Client);
  controlMock = mockClient(S3ControlClient);
  controlMock.on(CreateJobCommand).resolves({ JobId: 'job-123' });
});
afterEach(() => {
  s3Mock.restore();
  controlMock.restore();
});

function clients() {
  return { s3: new S3Client({ region: 'eu-west-1' }), s3control: new S3ControlClient({ region: 'eu-west-1' }) };
}

/** A GetObject body, as the SDK gives it. */
function body(content: string | Buffer) {
  const bytes = Buffer.from(content);
  return { transformToString: async () => bytes.toString('utf8'), transformToByteArray: async () => new Uint8Array(bytes) };
}

/** Two pages of keys under uploads/, a folder marker among them. */
function listing() {
  s3Mock.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({
    IsTruncated: true,
    NextContinuationToken: 'page2',
    Contents: [{ Key: 'uploads/', Size: 0 }, { Key: 'uploads/a b.jpg', Size: 1000 }, { Key: 'uploads/c,d.png', Size: 2000 }],
  });
  s3Mock.on(ListObjectsV2Command, { ContinuationToken: 'page2' }).resolves({ IsTruncated: false, Contents: [{ Key: 'uploads/é+.jpg', Size: 3000 }] });
}

test('the estimate, line by line, at the stated prices', () => {
  // 2 million objects, one variant, events on, 512 MB arm64 at 100 ms an object
  const e = estimate(2_000_000, 0, 0);
  expect(e.requests).toMatchObject({ 'batch tasks': 2_000_000, 's3 PUT by the function': 2_000_000, 's3 GET/HEAD by the function': 6_000_000 });
  // Batch: $0.25 + 2 x $1.00; S3: 2,000 thousand PUTs x $0.005 + 6,000 thousand GETs x $0.0004;
  // Lambda: 2 x $0.20 + 100,000 GB-s x $0.0000133334; EventBridge: 2 x $1.00
  expect(e.total).toBeCloseTo(2.25 + 10 + 2.4 + 0.4 + 1.33334 + 2, 4);
  // the manifest adds a PUT an object; labels $0.001 an image
  expect(estimate(1000, 0, 0, { manifest: true, labels: true }).cost).toMatchObject({ rekognition: 1 });
  expect(estimate(1000, 0, 0, { manifest: true }).requests['s3 PUT by the function']).toBe(2000);
});

test('a dry run lists and estimates, writes nothing and creates no job', async () => {
  listing();
  const result = await batchBackfill({
    ...clients(), bucket: 'in', prefix: 'uploads/', functionArn: FUNCTION, roleArn: ROLE, outputBucket: 'out',
  });
  expect(result.estimate).toMatchObject({ objects: 3, bytes: 6000, requests: expect.objectContaining({ 's3 LIST (the listing)': 2 }) });
  expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  expect(controlMock.commandCalls(CreateJobCommand)).toHaveLength(0);
});

test('--create writes the CSV manifest under _batch/manifests/ and creates the job with it, the role and the report', async () => {
  // GIVEN
  listing();
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-of-manifest"' });
  // WHEN
  const result = await batchBackfill({
    ...clients(), bucket: 'in', prefix: 'uploads/', functionArn: FUNCTION, roleArn: ROLE, outputBucket: 'out', outputPrefix: 'derived/', create: true,
  });
  // THEN the manifest: bucket and URL-encoded key per line, quoted where CSV needs it
  const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input as { Bucket: string; Key: string; Body: string };
  expect(put.Bucket).toBe('out');
  expect(put.Key).toMatch(/^derived\/_batch\/manifests\/backfill-.*\.csv$/);
  expect(put.Body).toBe('in,uploads/a%20b.jpg\nin,uploads/c%2Cd.png\nin,uploads/%C3%A9%2B.jpg\n');
  // and the job
  expect(result.jobId).toBe('job-123');
  const request = controlMock.commandCalls(CreateJobCommand)[0].args[0].input;
  expect(request).toMatchObject({
    AccountId: '111122223333',
    ConfirmationRequired: false,
    RoleArn: ROLE,
    Operation: { LambdaInvoke: { FunctionArn: FUNCTION, InvocationSchemaVersion: '2.0' } },
    Manifest: {
      Spec: { Format: 'S3BatchOperations_CSV_20180820', Fields: ['Bucket', 'Key'] },
      Location: { ObjectArn: `arn:aws:s3:::out/${put.Key}`, ETag: 'etag-of-manifest' },
    },
    Report: { Bucket: 'arn:aws:s3:::out', Prefix: 'derived/_batch/reports', Format: 'Report_CSV_20180820', Enabled: true, ReportScope: 'AllTasks' },
  });
  expect(request.ClientRequestToken).toMatch(/^[0-9a-f-]{36}$/);
});

test('the cap: more objects than --max-objects is refused, and nothing is written', async () => {
  listing();
  await expect(batchBackfill({
    ...clients(), bucket: 'in', prefix: 'uploads/', functionArn: FUNCTION, roleArn: ROLE, outputBucket: 'out', maxObjects: 2, create: true,
  })).rejects.toThrow(/3\+ objects in s3:\/\/in\/uploads\/, more than the cap of 2: raise --max-objects/);
  expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  expect(controlMock.commandCalls(CreateJobCommand)).toHaveLength(0);
});

test('an S3 Inventory report: its objects counted from its data files; the job reads its manifest.json', async () => {
  // GIVEN an inventory of 3 objects in two gzipped CSV files
  const manifestJson = JSON.stringify({
    sourceBucket: 'in',
    destinationBucket: 'arn:aws:s3:::inventories',
    fileFormat: 'CSV',
    fileSchema: 'Bucket, Key, Size',
    files: [{ key: 'in/daily/data/1.csv.gz' }, { key: 'in/daily/data/2.csv.gz' }],
  });
  s3Mock.on(GetObjectCommand, { Bucket: 'inventories', Key: 'in/daily/2026-11-25T01-00Z/manifest.json' }).resolves({ Body: body(manifestJson), ETag: '"inv-etag"' } as never);
  s3Mock.on(GetObjectCommand, { Bucket: 'inventories', Key: 'in/daily/data/1.csv.gz' })
    .resolves({ Body: body(gzipSync('"in","a.jpg","100"\n"in","b.jpg","200"\n')) } as never);
  s3Mock.on(GetObjectCommand, { Bucket: 'inventories', Key: 'in/daily/data/2.csv.gz' }).resolves({ Body: body(gzipSync('"in","c.jpg","300"\n')) } as never);
  // WHEN
  const inventory = 's3://inventories/in/daily/2026-11-25T01-00Z/manifest.json';
  const dry = await batchBackfill({ ...clients(), bucket: 'in', functionArn: FUNCTION, roleArn: ROLE, outputBucket: 'out', inventory });
  const created = await batchBackfill({ ...clients(), bucket: 'in', functionArn: FUNCTION, roleArn: ROLE, outputBucket: 'out', inventory, create: true });
  // THEN
  expect(dry.estimate).toMatchObject({ objects: 3, bytes: 600 });
  expect(created.request!.Manifest).toEqual({
    Spec: { Format: 'S3InventoryReport_CSV_20161130' },
    Location: { ObjectArn: 'arn:aws:s3:::inventories/in/daily/2026-11-25T01-00Z/manifest.json', ETag: 'inv-etag' },
  });
  expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
});

test('--function must be an ARN: the job needs its account', async () => {
  await expect(batchBackfill({ ...clients(), bucket: 'in', functionArn: 'Images-Processor', roleArn: ROLE, outputBucket: 'out' }))
    .rejects.toThrow(/--function must be the processor's ARN/);
});

test('manifest keys are URL-encoded with / kept', () => {
  expect(manifestKey('a b/c+d,é.jpg')).toBe('a%20b/c%2Bd%2C%C3%A9.jpg');
});

describe('image-pipeline backfill --batch against the local endpoint', () => {
  let tmp: string;
  let server: S3Server;
  let endpoint: string;
  beforeEach(async () => {
    s3Mock.restore();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batch-backfill-'));
    server = new S3Server({ dataDir: tmp, buckets: ['input', 'output'] });
    endpoint = await server.start();
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    for (const k of ['p/1.jpg', 'p/2.jpg', 'p/3.jpg']) await s3.send(new PutObjectCommand({ Bucket: 'input', Key: k, Body: 'x' }));
    s3.destroy();
  });
  afterEach(async () => {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the dry run prints the count and the estimate, and writes nothing', async () => {
    const { stdout } = await promisify(execFile)('node', [CLI, 'backfill', '--batch', '--bucket', 'input', '--prefix', 'p/',
      '--function', FUNCTION, '--output-bucket', 'output', '--endpoint', endpoint]);
    expect(stdout).toMatch(/^3 objects, /);
    expect(stdout).toMatch(/batch tasks\s+3\n/);
    expect(stdout).toMatch(/total\s+0\.25\d*\n/);
    expect(stdout).toMatch(/dry run: nothing written, no job created/);
    expect(server.listKeys('output')).toEqual([]);
  });

  test('over the cap: exit 2 with the reason', async () => {
    const run = promisify(execFile)('node', [CLI, 'backfill', '--batch', '--bucket', 'input', '--prefix', 'p/', '--max-objects', '2',
      '--function', FUNCTION, '--output-bucket', 'output', '--endpoint', endpoint]);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/more than the cap of 2/) });
  });
});
