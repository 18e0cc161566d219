/**
 * The handler's rules, over any S3 client: one S3 event record in, outputs or a failure record out.
 * Permanent failures (the input is at fault) end as a failure record; transient ones (S3 errors)
 * throw, so that Lambda retries and, past its retries, sends the event to the failure queue.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { removeResults } from './deletes';
import { LABELS_NEED_AWS, type LabelDetector } from './labels';
import { buildManifest, fingerprint, withManifest } from './manifest';
import { OrderedWriter, type Existing, type Source } from './ordered-writes';
import { checkOutputMetadata, copiesUserMetadata, outputHeaders } from './output-headers';
import {
  manifestKey, mayBeSkipped, noRuleReason, possibleOutputKeys as outputKeysOf, skipRecordKey, tombstoneKey, variantExtensions, variantsFor,
} from './output-keys';
import { decodeKey } from './s3-event';
import { effectiveMaxBytes, failureKey, ImageRejectedError, transformImage, variantKey, type RejectReason, type TransformPolicy } from './transform';
import {
  DETAIL_TYPES, METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE, SOURCE_METADATA, type DetailType, type PipelineConfig,
} from '../src/contract';

/** The parts of an S3 event record the handler reads. */
export interface S3EventRecordLike {
  readonly eventSource?: string;
  readonly eventName?: string;
  readonly s3: {
    readonly bucket: { readonly name: string };
    readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string; readonly sequencer?: string };
  };
}

/** The parts of an SQS event the handler reads. */
export interface SqsEventLike {
  readonly Records: { readonly messageId: string; readonly body: string; readonly eventSource?: string }[];
}

/** True for an SQS event (queue mode), as opposed to an S3 notification. */
export function isSqsEvent(event: unknown): event is SqsEventLike {
  const records = (event as { Records?: { eventSource?: string }[] } | null)?.Records;
  return Array.isArray(records) && records.length > 0 && records[0]?.eventSource === 'aws:sqs';
}

/** One variant written for an upload. */
export interface ProcessedOutput {
  readonly variant: string;
  readonly key: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly format: string;
  /**
   * Set when the variant's never-larger guard (`whenLarger`) acted: the encoded output was larger
   * in bytes than the input, so the input's bytes were written unchanged as this variant
   * (`kept-source`: `key`, `bytes`, `width`, `height` and `format` are the input's), or nothing was
   * written (`skipped`: `key` is where the output would have gone; any older output there is removed).
   */
  readonly note?: OutputNote;
}

/** What the never-larger guard did to one variant, and why. */
export interface OutputNote {
  readonly guard: 'kept-source' | 'skipped';
  readonly reason: string;
}

export type RecordOutcome =
  | { readonly status: 'processed'; readonly key: string; readonly outputs: ProcessedOutput[]; readonly ms: number }
  | { readonly status: 'rejected'; readonly key: string; readonly reason: RejectReason; readonly failureRecord: string }
  | { readonly status: 'skipped'; readonly key: string; readonly why: string }
  | { readonly status: 'deleted'; readonly key: string; readonly tombstone: string; readonly removed: string[] };

/** What the handler may use beyond S3 and EventBridge. */
export interface ProcessorServices {
  /** Asks Amazon Rekognition for labels, when the document's `labels` is set; none in the local mode. */
  readonly labels?: LabelDetector;
}

/** The failure record written under `<outputPrefix>_failed/`. */
export interface FailureRecord {
  readonly bucket: string;
  readonly key: string;
  readonly eTag?: string;
  /** The S3 event's sequencer: which upload of the key this record is about. */
  readonly sequencer?: string;
  readonly size?: number;
  readonly reason: RejectReason;
  readonly message: string;
  readonly time: string;
}

export type Logger = (entry: Record<string, unknown>) => void;

export const jsonLogger: Logger = (entry) => {
  // An embedded-metric line carries its time already (_aws.Timestamp), and CloudWatch stamps every line.
  process.stdout.write(`${JSON.stringify(entry._aws === undefined ? { time: new Date().toISOString(), ...entry } : entry)}\n`);
};

/** Thrown when some records of an event failed transiently; the others were done. */
export class TransientFailure extends Error {
  constructor(readonly failures: { key: string; error: Error }[]) {
    super(`${failures.length} record(s) failed and will be retried: `
      + failures.map((f) => `${f.key}: ${f.error.name}: ${f.error.message}`).join('; '));
    this.name = 'TransientFailure';
  }
}

export class ImageProcessor {
  private readonly policy: TransformPolicy;
  private readonly writer: OrderedWriter;

  /**
   * @param memoryBudgetBytes what one image may use (see `memoryBudgetFor`); unlimited if undefined
   * @param events where ImageProcessed and ImageRejected events go, when `config.events` is set
   */
  constructor(
    private readonly s3: S3Client,
    private readonly config: PipelineConfig,
    private readonly log: Logger = jsonLogger,
    memoryBudgetBytes?: number,
    private readonly events?: EventBridgeClient,
    private readonly services: ProcessorServices = {},
  ) {
    this.policy = { ...config, memoryBudgetBytes };
    this.writer = new OrderedWriter(s3, config.outputBucket, (outputKey, existing) => this.collision(outputKey, existing));
    if (config.labels && !services.labels) this.log({ level: 'WARN', message: LABELS_NEED_AWS });
  }

  /**
   * Handles an S3 notification event (or S3's test event). Every record is attempted; if any
   * failed transiently, a `TransientFailure` is thrown after the others are done.
   */
  async handleEvent(event: unknown): Promise<RecordOutcome[]> {
    const { outcomes, failures } = await this.processAll(recordsOf(event).map((record) => ({ record })));
    if (failures.length > 0) {
      throw new TransientFailure(failures);
    }
    return outcomes;
  }

  /**
   * Handles an SQS batch whose messages are S3 notifications (queue mode). Messages whose
   * records failed transiently, or that are not S3 notifications at all, are reported as batch
   * item failures: SQS delivers them again and, past the queue's receive limit, moves them to
   * the failure queue. The others are deleted from the queue.
   */
  async handleSqsEvent(event: SqsEventLike): Promise<{ batchItemFailures: { itemIdentifier: string }[]; outcomes: RecordOutcome[] }> {
    const failed = new Set<string>();
    const work: { record: S3EventRecordLike; messageId: string }[] = [];
    for (const message of event.Records) {
      let body: unknown;
      try {
        body = JSON.parse(message.body);
      } catch {
        this.log({ level: 'ERROR', message: 'queue message is not JSON; left for the failure queue', messageId: message.messageId });
        failed.add(message.messageId);
        continue;
      }
      const test = (body as { Event?: string } | null)?.Event === 's3:TestEvent';
      const records = recordsOf(body);
      if (!test && records.length === 0) {
        this.log({ level: 'ERROR', message: 'queue message is not an S3 notification; left for the failure queue', messageId: message.messageId });
        failed.add(message.messageId);
      }
      for (const record of records) work.push({ record, messageId: message.messageId });
    }
    const { outcomes, failures } = await this.processAll(work);
    for (const f of failures) failed.add(f.messageId!);
    return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })), outcomes };
  }

  private async processAll<T extends { record: S3EventRecordLike; messageId?: string }>(work: T[]): Promise<{
    outcomes: RecordOutcome[];
    failures: { key: string; error: Error; messageId?: string }[];
  }> {
    const outcomes: RecordOutcome[] = [];
    const failures: { key: string; error: Error; messageId?: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < work.length) {
        const { record, messageId } = work[next++];
        try {
          outcomes.push(await this.processRecord(record));
        } catch (e) {
          const error = e as Error;
          const key = safeKey(record);
          this.log({ level: 'ERROR', message: 'transient failure, will be retried', key, error: `${error.name}: ${error.message}` });
          failures.push({ key, error, messageId });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, work.length) }, worker));
    return { outcomes, failures };
  }

  async processRecord(record: S3EventRecordLike): Promise<RecordOutcome> {
    const started = Date.now();
    const bucket = record.s3.bucket.name;
    const key = decodeKey(record.s3.object.key);
    const eTag = record.s3.object.eTag;
    const size = record.s3.object.size;

    const removal = this.config.processDeletes === true && record.eventName?.startsWith('ObjectRemoved:') === true;
    if (record.eventName !== undefined && !record.eventName.startsWith('ObjectCreated:') && !removal) {
      return this.skip(key, `event ${record.eventName} is not an upload`);
    }
    if (!key.startsWith(this.config.inputPrefix)) {
      return this.skip(key, `key is outside the input prefix "${this.config.inputPrefix}"`);
    }
    if (bucket === this.config.outputBucket && key.startsWith(this.config.outputPrefix)) {
      return this.skip(key, 'key is under the output prefix');
    }
    if (removal) return this.removed(bucket, key, record);
    const variants = variantsFor(this.config, key);
    if (variants === undefined) return this.skip(key, noRuleReason(this.config));
    if (size === 0 && key.endsWith('/')) {
      return this.skip(key, 'a folder marker (an empty key ending in "/"), not an image');
    }

    const source: Source = { key, eTag, sequencer: record.s3.object.sequencer };
    let body: Buffer;
    try {
      // Known from the event: refuse without downloading.
      if (size === 0) {
        throw new ImageRejectedError('empty-object', 'the object is empty (0 bytes)');
      }
      const maxBytes = effectiveMaxBytes(this.policy);
      if (size !== undefined && size > maxBytes) {
        throw new ImageRejectedError('too-many-bytes', `the object has ${size} bytes, more than the limit of ${maxBytes}`);
      }
      const copies = copiesUserMetadata(variants);
      const inputMeta: { metadata?: Record<string, string> } = {};
      const got = await this.get(bucket, key, eTag, copies ? inputMeta : undefined);
      if (got === undefined) {
        return this.skip(key, 'the object changed or was deleted since the event; its own event follows');
      }
      body = got;
      // Rekognition reads the object itself, while the transform runs.
      const labels = this.config.labels && this.services.labels ? settled(this.services.labels.detect(bucket, key, body)) : undefined;
      if (copies) checkOutputMetadata(variants, inputMeta.metadata);
      const result = await transformImage(body, variants === this.config.variants ? this.policy : { ...this.policy, variants });
      // The manifest's fingerprint is made while the outputs are written (libvips works off the main thread).
      const described = this.config.manifest ? settled(fingerprint(body, this.config.maxInputPixels)) : undefined;
      const labelled = labels === undefined ? undefined : await labels();
      const outputs: ProcessedOutput[] = [];
      const written: { key: string; eTag: string }[] = [];
      for (const out of result.outputs) {
        const v = variants.find((x) => x.name === out.variant)!;
        const outKey = variantKey(this.config, key, v, out.extension);
        const skipped = out.note?.guard === 'skipped';
        if (!skipped) {
          const outETag = await this.writer.put({
            key: outKey, body: out.body, contentType: out.contentType, ...outputHeaders(v, inputMeta.metadata),
          }, source);
          if (outETag === undefined) return await this.superseded(key, written);
          written.push({ key: outKey, eTag: outETag });
        }
        // A guarded variant's output may change extension (the source kept) or go (skipped): what an
        // older upload of the key left at its other keys goes, so that none looks current.
        if (v.whenLarger === 'keep-source' || v.whenLarger === 'skip') {
          for (const other of variantExtensions(v).map((ext) => variantKey(this.config, key, v, ext))) {
            if ((skipped || other !== outKey) && await this.writer.newerAfterClearingOlder(other, source)) return await this.superseded(key, written);
          }
        }
        outputs.push({
          variant: out.variant,
          key: outKey,
          bytes: out.body.length,
          width: out.width,
          height: out.height,
          format: out.format,
          ...(out.note ? { note: out.note } : {}),
        });
      }
      // The never-larger guard may leave an upload with no output at all: its skip record then
      // stands for it (a newer one wins, an older one goes), as outputs do.
      if (mayBeSkipped(variants)) {
        const skipKey = skipRecordKey(this.config, key);
        if (written.length === 0) {
          const skipped = { bucket, key, eTag, sequencer: source.sequencer, outputs: outputs.map((o) => ({ variant: o.variant, note: o.note })) };
          const skipETag = await this.writer.put({ key: skipKey, body: JSON.stringify(skipped, null, 2), contentType: 'application/json' }, source);
          if (skipETag === undefined) return await this.superseded(key, written);
          written.push({ key: skipKey, eTag: skipETag });
        } else if (await this.writer.newerAfterClearingOlder(skipKey, source)) {
          return await this.superseded(key, written);
        }
      }
      // A newer upload of the key that was rejected wins; an older one's failure record goes.
      const failureRecord = failureKey(this.config, key);
      if (await this.writer.newerAfterClearingOlder(failureRecord, source)) return await this.superseded(key, written);
      // A newer delete of the key wins; an older one's tombstone goes.
      if (this.config.processDeletes && await this.writer.newerAfterClearingOlder(tombstoneKey(this.config, key), source)) {
        return await this.superseded(key, written);
      }
      let detail: Record<string, unknown> = {
        bucket, key, eTag, size: body.length, outputBucket: this.config.outputBucket, outputs, ...labelled?.labels ? { labels: labelled.labels } : {},
      };
      if (described) {
        const manifest = buildManifest({
          bucket,
          key,
          eTag,
          sequencer: source.sequencer,
          size: body.length,
          input: { format: result.inputFormat, width: result.inputWidth, height: result.inputHeight },
          outputs,
          bodies: result.outputs.map((o) => o.body),
          fingerprint: await described(),
          labels: labelled,
        });
        const mKey = manifestKey(this.config, key);
        const mETag = await this.writer.put({ key: mKey, body: JSON.stringify(manifest, null, 2), contentType: 'application/json' }, source);
        if (mETag === undefined) return await this.superseded(key, written);
        written.push({ key: mKey, eTag: mETag });
        detail = withManifest(detail, manifest, mKey, EVENT_OVERHEAD);
      }
      const ms = Date.now() - started;
      await this.publish(DETAIL_TYPES.processed, { ...detail, ms });
      // One line per image, which is also the metric (embedded metric format): nothing else is logged for it.
      const logged = Object.fromEntries(outputs.map((o) => [o.variant, o.bytes]));
      this.log({ level: 'INFO', message: 'image processed', key, eTag, bytes: body.length, outputs: logged, ms, ...this.metricFields(METRIC_NAMES.processed) });
      return { status: 'processed', key, outputs, ms };
    } catch (e) {
      if (!(e instanceof ImageRejectedError)) throw e;
      const failureRecord = failureKey(this.config, key);
      const rec: FailureRecord = {
        bucket, key, eTag, sequencer: source.sequencer, size, reason: e.reason, message: e.message, time: new Date().toISOString(),
      };
      const recETag = await this.writer.put({ key: failureRecord, body: JSON.stringify(rec, null, 2), contentType: 'application/json' }, source);
      if (recETag === undefined) return this.superseded(key, []);
      // A newer upload's outputs win; an older upload's outputs go, so none look current.
      for (const outKey of [...possibleOutputKeys(this.config, key), ...this.recordKeys(key)]) {
        if (await this.writer.newerAfterClearingOlder(outKey, source)) return this.superseded(key, [{ key: failureRecord, eTag: recETag }]);
      }
      await this.publish(DETAIL_TYPES.rejected, {
        bucket, key, eTag, size, reason: e.reason, message: e.message, outputBucket: this.config.outputBucket, failureRecord,
      });
      const counted = this.metricFields(METRIC_NAMES.rejected, { [METRIC_DIMENSIONS.reason]: e.reason });
      this.log({ level: 'WARN', message: 'image rejected', key, eTag, reason: e.reason, detail: e.message, failureRecord, ...counted });
      return { status: 'rejected', key, reason: e.reason, failureRecord };
    }
  }

  /**
   * The results beside the outputs that an upload of `key` may have, when their features are on:
   * its manifest, its tombstone.
   */
  private recordKeys(key: string): string[] {
    return [
      ...this.config.manifest ? [manifestKey(this.config, key)] : [],
      ...this.config.processDeletes ? [tombstoneKey(this.config, key)] : [],
    ];
  }

  /** An input deleted (processDeletes): its outputs, manifest and failure record go, unless a newer upload's are there. */
  private async removed(bucket: string, key: string, record: S3EventRecordLike): Promise<RecordOutcome> {
    const source: Source = { key, sequencer: record.s3.object.sequencer };
    const results = [
      ...possibleOutputKeys(this.config, key),
      failureKey(this.config, key),
      ...this.config.manifest ? [manifestKey(this.config, key)] : [],
    ];
    const outcome = await removeResults(this.writer, this.config, bucket, record.eventName!, source, results);
    if (outcome.status === 'superseded') return this.skip(key, 'superseded: a newer upload or delete of this key has its results in the output bucket');
    this.log({ level: 'INFO', message: 'input deleted; its results removed', key, removed: outcome.removed, tombstone: outcome.tombstone });
    return { status: 'deleted', key, tombstone: outcome.tombstone, removed: outcome.removed };
  }

  /** The input bucket the document names, if it names one. */
  get inputBucket(): string | undefined {
    return this.config.inputBucket;
  }

  /**
   * The key's current version in `bucket` (its eTag and size), or undefined when there is none:
   * what an S3 Batch Operations task, which names a key only, is about.
   */
  async currentVersion(bucket: string, key: string): Promise<{ eTag: string; size: number } | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { eTag: (res.ETag ?? '').replace(/"/g, ''), size: res.ContentLength ?? 0 };
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = err.$metadata?.httpStatusCode;
      if (status === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey') return undefined;
      // See get(): without s3:ListBucket on the key, S3 answers a missing key with 403.
      if (status === 403 && !(await this.listed(bucket, key))) return undefined;
      throw e;
    }
  }

  /**
   * A newer upload of `key` has results in the output bucket: this event's own writes are taken
   * back (each only while it is still the object this event wrote), and nothing is announced.
   */
  private async superseded(key: string, written: { key: string; eTag: string }[]): Promise<RecordOutcome> {
    for (const w of written) await this.writer.deleteIfMatch(w.key, w.eTag);
    return this.skip(key, 'superseded: a newer upload of this key has its results in the output bucket');
  }

  /** Logs and counts an output key that held another input key's output. */
  private collision(outputKey: string, existing: Existing): void {
    const other = existing.metadata[SOURCE_METADATA.key];
    this.log({
      level: 'WARN',
      message: 'output key collision: another input key had written this output, which is now replaced',
      outputKey,
      otherInputKey: other === undefined ? undefined : safeDecode(other),
    });
    this.metric(METRIC_NAMES.collisions);
  }

  /**
   * Sends one EventBridge event about an image, when events are configured. A failure throws, so
   * the record is retried (the outputs are written again, to the same keys) and the event is not lost.
   */
  private async publish(detailType: DetailType, detail: Record<string, unknown>): Promise<void> {
    if (!this.events || !this.config.events) return;
    const res = await this.events.send(new PutEventsCommand({
      Entries: [{
        Source: this.config.events.source,
        DetailType: detailType,
        EventBusName: this.config.events.eventBusName,
        Detail: JSON.stringify({ pipeline: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'local', ...detail }),
      }],
    }));
    if ((res.FailedEntryCount ?? 0) > 0) {
      const entry = res.Entries?.find((x) => x.ErrorCode);
      throw new Error(`EventBridge refused the ${detailType} event: ${entry?.ErrorCode ?? 'unknown'}: ${entry?.ErrorMessage ?? ''}`);
    }
  }

  /** Reads the object as it was when the event was sent; undefined if it has changed or gone since. */
  private async get(bucket: string, key: string, eTag: string | undefined,
    meta?: { metadata?: Record<string, string> }): Promise<Buffer | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        IfMatch: eTag ? `"${eTag.replace(/"/g, '')}"` : undefined,
      }));
      // The input's user metadata, for variants that copy it.
      if (meta) meta.metadata = res.Metadata ?? {};
      if (!res.Body) return Buffer.alloc(0);
      return await readBody(res.Body, res.ContentLength);
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = err.$metadata?.httpStatusCode;
      if (status === 412 || status === 404 || err.name === 'PreconditionFailed' || err.name === 'NoSuchKey') {
        return undefined;
      }
      if (status === 403 && !(await this.listed(bucket, key))) {
        // Deleted since its event. S3 answers a missing key with 403, not 404, to a caller that
        // may not list the bucket ("If you don't have the s3:ListBucket permission, Amazon S3
        // returns an HTTP status code 403", GetObject in the Amazon S3 API Reference); the
        // function may list under the input prefix only, which a GetObject does not name.
        return undefined;
      }
      throw e;
    }
  }

  /** True when `key` is in `bucket`: a listing of the key as a prefix, which the function may make. */
  private async listed(bucket: string, key: string): Promise<boolean> {
    const res = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
    return res?.Contents?.[0]?.Key === key;
  }

  private skip(key: string, why: string): RecordOutcome {
    this.log({ level: 'INFO', message: 'record skipped', key, why });
    return { status: 'skipped', key, why };
  }

  /** One CloudWatch embedded-metric-format line. */
  private metric(name: string, dimensions: Record<string, string> = {}): void {
    this.log(this.metricFields(name, dimensions));
  }

  /** The fields that make a log line a CloudWatch embedded-metric-format document counting `name` once. */
  private metricFields(name: string, dimensions: Record<string, string> = {}): Record<string, unknown> {
    const pipeline = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'local';
    const dims = { [METRIC_DIMENSIONS.pipeline]: pipeline, ...dimensions };
    const sets = [[METRIC_DIMENSIONS.pipeline], ...(Object.keys(dimensions).length ? [Object.keys(dims)] : [])];
    return {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: sets, Metrics: [{ Name: name, Unit: 'Count' }] }],
      },
      ...dims,
      [name]: 1,
    };
  }
}

/**
 * An object's body, read straight into one buffer of its Content-Length (no chunk list, no
 * concatenation: half the bytes held at the peak); a body that does not stream (or of unknown
 * length) is collected by the SDK. A body longer or shorter than announced throws, as a transient
 * failure.
 */
export async function readBody(body: unknown, length: number | undefined): Promise<Buffer> {
  const stream = body as Partial<AsyncIterable<Uint8Array>> & { transformToByteArray?: () => Promise<Uint8Array> };
  if (length === undefined || typeof stream[Symbol.asyncIterator] !== 'function') {
    const bytes = await stream.transformToByteArray!();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    if (at + chunk.byteLength > length) throw new Error(`the object's body is longer than its Content-Length (${length})`);
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== length) throw new Error(`the object's body ended after ${at} of its ${length} bytes`);
  return out;
}

/** The bytes of an EventBridge entry besides its detail, at most: source, detail type, time, the pipeline's name. */
const EVENT_OVERHEAD = 1024;

/** Runs `p` now and hands its outcome over later; a rejection is not unhandled meanwhile. */
function settled<T>(p: Promise<T>): () => Promise<T> {
  const outcome = p.then((value) => ({ value }), (error: unknown) => ({ error }));
  return async () => {
    const o = await outcome;
    if ('error' in o) throw o.error;
    return o.value;
  };
}

function safeKey(record: S3EventRecordLike): string {
  try {
    return decodeKey(record.s3.object.key);
  } catch {
    return record.s3?.object?.key ?? '(unknown)';
  }
}

/** Every output key an upload of `key` can have: each of its variants', in each format it may be encoded in. */
export function possibleOutputKeys(config: PipelineConfig, key: string): string[] {
  return outputKeysOf(config, key);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The S3 records of an event; none for S3's `s3:TestEvent` or anything else. */
export function recordsOf(event: unknown): S3EventRecordLike[] {
  if (typeof event !== 'object' || event === null) return [];
  const e = event as { Event?: string; Records?: unknown };
  if (e.Event === 's3:TestEvent' || !Array.isArray(e.Records)) return [];
  return e.Records.filter((r): r is S3EventRecordLike =>
    typeof r === 'object' && r !== null && (r as { s3?: unknown }).s3 !== undefined);
}
