/**
 * `image-pipeline backfill --batch`: a backfill of a bucket too large for one machine's invoke loop,
 * run by S3 Batch Operations ("Invoke AWS Lambda function"), which invokes the processor for every
 * object of a manifest and writes a completion report.
 *
 * The objects come from a listing of the prefix, written as a CSV manifest under
 * `<outputPrefix>_batch/manifests/` in the output bucket, or from an S3 Inventory report
 * (`manifest.json`). A dry run comes first, and is the default: it counts the objects, refuses more
 * than the cap, and estimates the requests and their cost; `--create` then writes the manifest and
 * creates the job (S3 Control CreateJob) with the role the construct's `batchOperations` makes.
 */
import { randomUUID } from 'crypto';
import { createGunzip } from 'zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateJobCommand, type CreateJobRequest, type S3ControlClient } from '@aws-sdk/client-s3-control';
import { BATCH_FOLDERS } from '../../../src/contract';

/**
 * List prices used by the estimate: US East (N. Virginia), first tier, S3 Standard; from the AWS
 * pricing pages (https://aws.amazon.com/s3/pricing/ "Requests & data retrievals" and "Management &
 * insights: S3 Batch Operations", https://aws.amazon.com/lambda/pricing/,
 * https://aws.amazon.com/eventbridge/pricing/ "custom events", https://aws.amazon.com/rekognition/pricing/
 * "Group 1 APIs"). Other regions and tiers differ; they are not measurements.
 */
export const PRICES_USD = {
  batchJob: 0.25,
  batchPerMillionObjects: 1.0,
  s3PutPerThousand: 0.005,
  s3ListPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecondArm: 0.0000133334,
  lambdaPerGbSecondX86: 0.0000166667,
  eventBridgePerMillionEvents: 1.0,
  rekognitionPerImage: 0.001,
} as const;

/** The default cap: a job over more objects needs `--max-objects`. */
export const DEFAULT_MAX_OBJECTS = 100_000;

/** What the processor does per object, for the estimate. */
export interface PerObject {
  /** Variants written per image. @default 1 */
  readonly variants?: number;
  readonly manifest?: boolean;
  readonly processDeletes?: boolean;
  readonly labels?: boolean;
  /** @default true */
  readonly events?: boolean;
  /** The function's memory. @default 512 */
  readonly memoryMb?: number;
  /** Billed milliseconds per object (an assumption: the function's Duration metric tells). @default 100 */
  readonly msPerObject?: number;
  /** @default 'arm64' */
  readonly architecture?: 'arm64' | 'x86_64';
}

export interface Estimate {
  readonly objects: number;
  readonly bytes: number;
  readonly requests: Record<string, number>;
  /** Dollars, by line. */
  readonly cost: Record<string, number>;
  readonly total: number;
}

/** The requests a job over `objects` objects makes, and their cost at PRICES_USD. */
export function estimate(objects: number, bytes: number, listRequests: number, p: PerObject = {}): Estimate {
  const variants = p.variants ?? 1;
  const puts = variants + (p.manifest ? 1 : 0);
  // HeadObject of the input (a task names a key only), GetObject, the look for a failure record,
  // and for a tombstone with deletes on
  const gets = 3 + (p.processDeletes ? 1 : 0);
  const memoryGb = (p.memoryMb ?? 512) / 1024;
  const gbSeconds = objects * ((p.msPerObject ?? 100) / 1000) * memoryGb;
  const perGbSecond = p.architecture === 'x86_64' ? PRICES_USD.lambdaPerGbSecondX86 : PRICES_USD.lambdaPerGbSecondArm;
  const requests: Record<string, number> = {
    's3 LIST (the listing)': listRequests,
    's3 PUT (the CSV manifest)': listRequests > 0 ? 1 : 0,
    'batch tasks': objects,
    'lambda invocations': objects,
    's3 GET/HEAD by the function': objects * gets,
    's3 PUT by the function': objects * puts,
    ...(p.events ?? true ? { 'eventbridge events': objects } : {}),
    ...(p.labels ? { 'rekognition DetectLabels': objects } : {}),
  };
  const cost: Record<string, number> = {
    'batch operations job': PRICES_USD.batchJob,
    'batch operations objects': (objects / 1e6) * PRICES_USD.batchPerMillionObjects,
    's3 requests': ((listRequests + (listRequests > 0 ? 1 : 0) + objects * puts) / 1000) * PRICES_USD.s3PutPerThousand
      + ((objects * gets) / 1000) * PRICES_USD.s3GetPerThousand,
    'lambda requests': (objects / 1e6) * PRICES_USD.lambdaPerMillionRequests,
    [`lambda duration (${gbSeconds.toFixed(1)} GB-s)`]: gbSeconds * perGbSecond,
    ...(p.events ?? true ? { eventbridge: (objects / 1e6) * PRICES_USD.eventBridgePerMillionEvents } : {}),
    ...(p.labels ? { rekognition: objects * PRICES_USD.rekognitionPerImage } : {}),
  };
  return { objects, bytes, requests, cost, total: Object.values(cost).reduce((a, b) => a + b, 0) };
}

export interface BatchBackfillOptions {
  readonly s3: S3Client;
  readonly s3control: S3ControlClient;
  /** The input bucket. */
  readonly bucket: string;
  /** @default '' */
  readonly prefix?: string;
  /** The processor's ARN (the job invokes it; its account is the job's). */
  readonly functionArn: string;
  /** The job's role: the construct's `batchOperationsRole`. */
  readonly roleArn: string;
  /** The bucket of the manifests and reports: the pipeline's output bucket. */
  readonly outputBucket: string;
  /** The pipeline's output prefix. @default '' */
  readonly outputPrefix?: string;
  /** An S3 Inventory report's `manifest.json` (`s3://bucket/key`) instead of a listing. */
  readonly inventory?: string;
  /** @default DEFAULT_MAX_OBJECTS */
  readonly maxObjects?: number;
  /** Write the manifest and create the job; otherwise a dry run, which writes nothing. */
  readonly create?: boolean;
  /** @default 10 */
  readonly priority?: number;
  readonly perObject?: PerObject;
  /** @default ListObjectsV2's 1000 */
  readonly pageSize?: number;
}

export interface BatchBackfillResult {
  readonly estimate: Estimate;
  /** The manifest the job reads: `s3://bucket/key`. */
  readonly manifest?: string;
  readonly jobId?: string;
  /** The request made, when a job was created. */
  readonly request?: CreateJobRequest;
}

/** A refusal the user can act on: its message says what to change. */
export class BatchBackfillError extends Error {}

/** Counts (dry run) or lists (for the manifest) the objects of a batch backfill, then creates its job. */
export async function batchBackfill(o: BatchBackfillOptions): Promise<BatchBackfillResult> {
  const arn = parseFunctionArn(o.functionArn);
  const max = o.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const prefix = o.prefix ?? '';
  const outputPrefix = o.outputPrefix ?? '';
  const name = `backfill-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;

  let manifestSpec: CreateJobRequest['Manifest'] | undefined;
  let manifest: string | undefined;
  let result: Estimate;
  if (o.inventory) {
    const location = parseS3Url(o.inventory, '--inventory');
    const counted = await countInventory(o.s3, location.bucket, location.key);
    if (counted.objects > max) throw capError(counted.objects, max, `the inventory ${o.inventory}`);
    result = estimate(counted.objects, counted.bytes, 0, o.perObject);
    manifest = o.inventory;
    manifestSpec = {
      Spec: { Format: 'S3InventoryReport_CSV_20161130' },
      Location: { ObjectArn: `arn:${arn.partition}:s3:::${location.bucket}/${location.key}`, ETag: counted.manifestETag },
    };
  } else {
    const listed = await listKeys(o.s3, o.bucket, prefix, max, o.pageSize);
    if (listed.keys.length > max) throw capError(listed.keys.length, max, `s3://${o.bucket}/${prefix}`, '+');
    result = estimate(listed.keys.length, listed.bytes, listed.requests, o.perObject);
    if (o.create) {
      if (listed.keys.length === 0) throw new BatchBackfillError(`no object under s3://${o.bucket}/${prefix}: no job to create`);
      const key = `${outputPrefix}${BATCH_FOLDERS.manifests}${name}.csv`;
      const csv = listed.keys.map((k) => `${csvField(o.bucket)},${csvField(manifestKey(k))}\n`).join('');
      const put = await o.s3.send(new PutObjectCommand({ Bucket: o.outputBucket, Key: key, Body: csv, ContentType: 'text/csv' }));
      manifest = `s3://${o.outputBucket}/${key}`;
      manifestSpec = {
        Spec: { Format: 'S3BatchOperations_CSV_20180820', Fields: ['Bucket', 'Key'] },
        Location: { ObjectArn: `arn:${arn.partition}:s3:::${o.outputBucket}/${key}`, ETag: (put.ETag ?? '').replace(/"/g, '') },
      };
    }
  }
  if (!o.create) return { estimate: result, manifest: o.inventory };

  const request: CreateJobRequest = {
    AccountId: arn.account,
    ConfirmationRequired: false,
    Operation: { LambdaInvoke: { FunctionArn: o.functionArn, InvocationSchemaVersion: '2.0' } },
    Manifest: manifestSpec!,
    Report: {
      Bucket: `arn:${arn.partition}:s3:::${o.outputBucket}`,
      Prefix: `${outputPrefix}${BATCH_FOLDERS.reports}`.replace(/\/$/, ''),
      Format: 'Report_CSV_20180820',
      Enabled: true,
      ReportScope: 'AllTasks',
    },
    Priority: o.priority ?? 10,
    RoleArn: o.roleArn,
    ClientRequestToken: randomUUID(),
    Description: `image-pipeline ${name} of s3://${o.bucket}/${prefix}`.slice(0, 256),
  };
  const created = await o.s3control.send(new CreateJobCommand(request));
  return { estimate: result, manifest, jobId: created.JobId, request };
}

/** A key as a Batch Operations CSV manifest wants it: URL-encoded (UTF-8), `/` kept. */
export function manifestKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/');
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function capError(count: number, max: number, where: string, more = ''): BatchBackfillError {
  return new BatchBackfillError(`${count}${more} objects in ${where}, more than the cap of ${max}: `
    + 'raise --max-objects (after a dry run shows the cost) or narrow --prefix');
}

/** The keys under `prefix` (folder markers left out), listing at most `max + 1`. */
async function listKeys(s3: S3Client, bucket: string, prefix: string, max: number,
  pageSize?: number): Promise<{ keys: string[]; bytes: number; requests: number }> {
  const keys: string[] = [];
  let bytes = 0;
  let requests = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({
      Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token, MaxKeys: pageSize,
    }));
    requests++;
    for (const c of page.Contents ?? []) {
      if (!c.Key || (c.Key.endsWith('/') && (c.Size ?? 0) === 0)) continue;
      keys.push(c.Key);
      bytes += c.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token && keys.length <= max);
  return { keys, bytes, requests };
}

/** The objects an S3 Inventory report lists: its data files, gunzipped, one line an object. */
async function countInventory(s3: S3Client, bucket: string, key: string): Promise<{ objects: number; bytes: number; manifestETag: string }> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const doc = JSON.parse(await res.Body!.transformToString()) as {
    fileFormat?: string; fileSchema?: string; destinationBucket?: string; files?: { key: string }[];
  };
  if (doc.fileFormat !== 'CSV' || !Array.isArray(doc.files)) {
    throw new BatchBackfillError(`s3://${bucket}/${key} is not the manifest.json of a CSV S3 Inventory report (fileFormat ${doc.fileFormat ?? 'missing'})`);
  }
  const fields = (doc.fileSchema ?? '').split(',').map((f) => f.trim());
  const sizeColumn = fields.indexOf('Size');
  const dataBucket = (doc.destinationBucket ?? `arn:aws:s3:::${bucket}`).replace(/^arn:[^:]+:s3:::/, '');
  let objects = 0;
  let bytes = 0;
  for (const file of doc.files) {
    const data = await s3.send(new GetObjectCommand({ Bucket: dataBucket, Key: file.key }));
    const text = await gunzip(Buffer.from(await data.Body!.transformToByteArray()));
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      objects++;
      if (sizeColumn >= 0) bytes += Number(/^"?([0-9]*)"?$/.exec(splitCsv(line)[sizeColumn] ?? '')?.[1] ?? 0) || 0;
    }
  }
  return { objects, bytes, manifestETag: (res.ETag ?? '').replace(/"/g, '') };
}

function gunzip(data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const z = createGunzip();
    z.on('data', (c: Buffer) => chunks.push(c));
    z.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    z.on('error', reject);
    z.end(data);
  });
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i++; } else if (c === '"') {quoted = false;} else {field += c;}
    } else if (c === '"') {quoted = true;} else if (c === ',') { out.push(field); field = ''; } else {field += c;}
  }
  out.push(field);
  return out;
}

/** `arn:<partition>:lambda:<region>:<account>:function:<name>[:qualifier]`. */
export function parseFunctionArn(functionArn: string): { partition: string; region: string; account: string } {
  const m = /^arn:([^:]+):lambda:([^:]+):(\d{12}):function:[A-Za-z0-9-_]+(?::[A-Za-z0-9-_$]+)?$/.exec(functionArn);
  if (!m) throw new BatchBackfillError(`--function must be the processor's ARN (arn:aws:lambda:<region>:<account>:function:<name>) for a Batch Operations job, got "${functionArn}"`);
  return { partition: m[1], region: m[2], account: m[3] };
}

/** `s3://bucket/key`. */
export function parseS3Url(url: string, option: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new BatchBackfillError(`${option} must be s3://bucket/key, got "${url}"`);
  return { bucket: m[1], key: m[2] };
}

/** The estimate as the command prints it. */
export function formatEstimate(e: Estimate): string {
  const lines = [`${e.objects} objects, ${(e.bytes / 1024 / 1024).toFixed(1)} MiB`, 'requests:'];
  for (const [k, v] of Object.entries(e.requests)) lines.push(`  ${k.padEnd(32)} ${v}`);
  lines.push('estimated cost, USD (us-east-1 list prices, first tier; see --help):');
  for (const [k, v] of Object.entries(e.cost)) lines.push(`  ${k.padEnd(32)} ${v.toFixed(4)}`);
  lines.push(`  ${'total'.padEnd(32)} ${e.total.toFixed(4)}`);
  return `${lines.join('\n')}\n`;
}
