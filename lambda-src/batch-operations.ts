/**
 * S3 Batch Operations: the processor as the Lambda function of an "Invoke AWS Lambda function"
 * job, for backfills of millions of objects. Batch invokes the function synchronously with a few
 * tasks (invocation schema 1.0: `s3BucketArn`; 2.0: `s3Bucket`; the key URL-encoded in both) and
 * records the answer for each in the job's completion report:
 *
 * - `Succeeded`: the object's variants are written (or there was nothing to do: the key is gone,
 *   outside the input prefix, or a newer upload's results are in place; the result string says);
 * - `PermanentFailure`: the image is refused (its failure record is written, as for an upload);
 * - `TemporaryFailure`: S3 or another service failed; Batch retries the task.
 *
 * Ordering. A task carries no S3 event sequencer. It processes the key's current version, read
 * with HeadObject and then pinned to its eTag, and its results carry no sequencer, so they are
 * ordered by eTag alone, as the invoke-loop backfill's: a task writes where nothing is, replaces
 * results of the same version (variants that changed since), and gives way to any result of
 * another version, which an upload event wrote (or will write) and which is never overwritten. A
 * tombstone (a delete) is such a result: a task never brings a deleted key's outputs back.
 */
import type { ImageProcessor, RecordOutcome } from './processor';
import { decodeKey } from './s3-event';

export type BatchResultCode = 'Succeeded' | 'TemporaryFailure' | 'PermanentFailure';

export interface BatchTask {
  readonly taskId: string;
  /** URL-encoded, as in an S3 event. */
  readonly s3Key: string;
  readonly s3VersionId?: string | null;
  /** Schema 1.0. */
  readonly s3BucketArn?: string;
  /** Schema 2.0. */
  readonly s3Bucket?: string;
}

export interface BatchEvent {
  readonly invocationSchemaVersion: string;
  readonly invocationId: string;
  readonly job: { readonly id: string; readonly userArguments?: Record<string, string> };
  readonly tasks: readonly BatchTask[];
}

export interface BatchResult {
  readonly taskId: string;
  readonly resultCode: BatchResultCode;
  readonly resultString: string;
}

export interface BatchResponse {
  readonly invocationSchemaVersion: string;
  readonly treatMissingKeysAs: BatchResultCode;
  readonly invocationId: string;
  readonly results: BatchResult[];
}

/** The longest result string kept: the completion report is a CSV of one line per task. */
export const MAX_RESULT_STRING = 1000;

/** True for an S3 Batch Operations invocation. */
export function isBatchEvent(event: unknown): event is BatchEvent {
  const e = event as Partial<BatchEvent> | null;
  return typeof e === 'object' && e !== null && typeof e.invocationSchemaVersion === 'string'
    && typeof e.invocationId === 'string' && Array.isArray(e.tasks);
}

/** The bucket a task names: `s3Bucket` (2.0), or the name in `s3BucketArn` (1.0). */
export function taskBucket(task: BatchTask): string | undefined {
  if (task.s3Bucket) return task.s3Bucket;
  return /^arn:[^:]+:s3:::([^/]+)$/.exec(task.s3BucketArn ?? '')?.[1];
}

/**
 * Answers a Batch invocation: every task is attempted (one at a time, as Batch sends few), and
 * each gets its result. Tasks Batch would not find in the answer count as temporary failures.
 */
export async function handleBatchEvent(processor: ImageProcessor, event: BatchEvent, inputBucket?: string): Promise<BatchResponse> {
  const results: BatchResult[] = [];
  for (const task of event.tasks) {
    results.push(await runTask(processor, task, inputBucket));
  }
  return {
    invocationSchemaVersion: event.invocationSchemaVersion,
    treatMissingKeysAs: 'TemporaryFailure',
    invocationId: event.invocationId,
    results,
  };
}

async function runTask(processor: ImageProcessor, task: BatchTask, inputBucket?: string): Promise<BatchResult> {
  const answer = (resultCode: BatchResultCode, text: string): BatchResult =>
    ({ taskId: task.taskId, resultCode, resultString: text.length > MAX_RESULT_STRING ? `${text.slice(0, MAX_RESULT_STRING - 1)}…` : text });
  const bucket = taskBucket(task);
  if (bucket === undefined) return answer('PermanentFailure', `the task names no bucket (s3Bucket or s3BucketArn): ${JSON.stringify(task)}`);
  if (inputBucket !== undefined && bucket !== inputBucket) {
    return answer('PermanentFailure', `s3://${bucket} is not the pipeline's input bucket (${inputBucket})`);
  }
  let key: string;
  try {
    key = decodeKey(task.s3Key);
  } catch {
    return answer('PermanentFailure', `the key ${task.s3Key} is not URL-encoded as S3 Batch Operations sends keys`);
  }
  try {
    const current = await processor.currentVersion(bucket, key);
    if (current === undefined) return answer('Succeeded', 'skipped: the object no longer exists');
    const outcome: RecordOutcome = await processor.processRecord({
      s3: { bucket: { name: bucket }, object: { key: task.s3Key, size: current.size, eTag: current.eTag } },
    });
    switch (outcome.status) {
      case 'processed': return answer('Succeeded', `processed: ${outcome.outputs.map((o) => o.key).join(', ')}`);
      case 'rejected': return answer('PermanentFailure', `rejected: ${outcome.reason} (${outcome.failureRecord})`);
      case 'skipped': return answer('Succeeded', `skipped: ${outcome.why}`);
      default: return answer('Succeeded', outcome.status);
    }
  } catch (e) {
    const err = e as Error;
    return answer('TemporaryFailure', `${err.name}: ${err.message}`);
  }
}
