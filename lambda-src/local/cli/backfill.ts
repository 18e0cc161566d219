/**
 * `image-pipeline backfill`: process objects already in the input bucket (when the pipeline is
 * added, or its variants change) by sending the processor, for each object, the S3 event it would
 * have had, as an asynchronous invocation. Works against a deployed function and against the
 * local mode alike; resumable from a state file.
 */
import * as fs from 'fs';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { s3EventRecord, type S3EventRecord } from '../../s3-event';

export interface BackfillOptions {
  readonly s3: S3Client;
  readonly lambda: LambdaClient;
  /** The processor's name or ARN. */
  readonly functionName: string;
  readonly bucket: string;
  /** @default '' */
  readonly prefix?: string;
  /** Invocations under way at once. @default 8 */
  readonly concurrency?: number;
  /** Where progress is kept; a run with the same file continues after the last key it finished. */
  readonly stateFile?: string;
  /** Stop after this many objects (the state file lets a later run go on). @default - all */
  readonly limit?: number;
  /** Keys listed per page, and the granularity of the state file. @default 100 */
  readonly pageSize?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  readonly onProgress?: (done: number, key: string) => void;
}

export interface BackfillState {
  readonly bucket: string;
  readonly prefix: string;
  /** Every key up to and including this one has been sent. */
  readonly after: string;
  readonly sent: number;
}

export interface BackfillResult {
  /** Objects sent in this run. */
  readonly sent: number;
  /** Objects sent in this and earlier runs with the same state file. */
  readonly total: number;
  /** True when the listing was exhausted (nothing left for a later run). */
  readonly complete: boolean;
  readonly lastKey?: string;
}

/** The S3 event the processor would have had for this object. */
export function backfillEvent(bucket: string, key: string, size: number, eTag: string, region = 'us-east-1'): { Records: S3EventRecord[] } {
  return { Records: [s3EventRecord({ bucket, key, size, eTag, region, principal: 'image-pipeline-backfill' })] };
}

export function readState(file: string | undefined, bucket: string, prefix: string): BackfillState {
  if (file && fs.existsSync(file)) {
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as BackfillState;
    if (state.bucket !== bucket || state.prefix !== prefix) {
      throw new Error(`the state file ${file} is for s3://${state.bucket}/${state.prefix}, not s3://${bucket}/${prefix}`);
    }
    return state;
  }
  return { bucket, prefix, after: '', sent: 0 };
}

export async function backfill(options: BackfillOptions): Promise<BackfillResult> {
  const prefix = options.prefix ?? '';
  let state = readState(options.stateFile, options.bucket, prefix);
  const limit = options.limit ?? Infinity;
  let sent = 0;
  let token: string | undefined;
  let complete = false;
  while (sent < limit) {
    const page = await options.s3.send(new ListObjectsV2Command({
      Bucket: options.bucket,
      Prefix: prefix || undefined,
      StartAfter: token ? undefined : state.after || undefined,
      ContinuationToken: token,
      MaxKeys: Math.min(options.pageSize ?? 100, limit - sent),
    }));
    const objects = (page.Contents ?? []).filter((o) => o.Key && !o.Key.endsWith('/'));
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, objects.length) }, async () => {
      while (next < objects.length) {
        const o = objects[next++];
        const res = await options.lambda.send(new InvokeCommand({
          FunctionName: options.functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(backfillEvent(options.bucket, o.Key!, o.Size ?? 0, o.ETag ?? '', options.region))),
        }));
        if (res.StatusCode !== 202) throw new Error(`invoking ${options.functionName} for ${o.Key} answered ${res.StatusCode}`);
        sent++;
        options.onProgress?.(state.sent + sent, o.Key!);
      }
    }));
    if (objects.length > 0) {
      // The whole page is sent: a later run starts after its last key.
      state = { bucket: options.bucket, prefix, after: objects[objects.length - 1].Key!, sent: state.sent + objects.length };
      if (options.stateFile) fs.writeFileSync(options.stateFile, JSON.stringify(state, null, 2));
    }
    token = page.NextContinuationToken;
    if (!page.IsTruncated) {
      complete = true;
      break;
    }
  }
  return { sent, total: state.sent, complete, lastKey: state.after || undefined };
}
