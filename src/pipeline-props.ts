import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { BatchOperationsOptions, LabelDetection } from './features';
import type { SharpLayer } from './sharp-layer';
import type { UploadApiOptions } from './upload-api';
import { ImageRule, ImageVariant, InputFormat } from './variant';

/**
 * How uploads reach the processor.
 */
export enum TriggerMode {
  /** S3 event notifications invoke the function asynchronously; Lambda retries failed events. */
  S3_NOTIFICATION = 's3-notification',
  /**
   * S3 event notifications go to an SQS queue that the function reads in batches, reporting
   * failed messages one by one: for bursts and back-pressure. A message received
   * `queueMaxReceiveCount` times goes to the failure queue.
   */
  QUEUE = 'queue',
}

/**
 * Properties of an `ImagePreprocessingPipeline`. Every one is optional: the defaults give the
 * original system's behaviour, a grayscale 256x256 JPEG of every upload.
 */
export interface ImagePreprocessingPipelineProps {
  /**
   * The bucket whose uploads are processed. A bucket encrypted with its own KMS key must be given
   * with that key (`Bucket.fromBucketAttributes(this, 'In', { bucketName, encryptionKey })`), or the
   * processor gets no `kms:Decrypt` on it. Another pipeline of the app on the same bucket must
   * have notification filters (`inputPrefix`, `inputSuffixes`) that do not overlap this one's.
   *
   * @default - a new bucket: all public access blocked, SSL enforced, S3-managed encryption, retained on delete
   */
  readonly inputBucket?: s3.IBucket;

  /**
   * The bucket the variants and failure records are written to. It may be the input bucket
   * only when `inputPrefix` and `outputPrefix` do not overlap (however the bucket is given: the
   * same bucket by name or by ARN, through tokens, is the same bucket). A bucket encrypted with
   * its own KMS key must be given with that key, or the processor gets no `kms:GenerateDataKey`.
   *
   * @default - a new bucket: all public access blocked, SSL enforced, S3-managed encryption, retained on delete
   */
  readonly outputBucket?: s3.IBucket;

  /**
   * Only uploads under this key prefix are processed; it is not repeated in output keys.
   *
   * @default '' (the whole bucket)
   */
  readonly inputPrefix?: string;

  /**
   * Only uploads whose keys end with one of these suffixes are processed (for example `.jpg`).
   *
   * @default - every key under `inputPrefix`
   */
  readonly inputSuffixes?: string[];

  /**
   * Key prefix of everything written to the output bucket.
   *
   * @default ''
   */
  readonly outputPrefix?: string;

  /**
   * The images made from each upload (at most 10). The input is decoded once for all of them.
   *
   * @default - one variant named `grayscale-256`: 256x256, `ImageFit.FILL`, grayscale, JPEG quality 80
   */
  readonly variants?: ImageVariant[];

  /**
   * Different variants for different key prefixes under `inputPrefix` (for example `avatars/` and
   * `products/`), instead of `variants`: each rule is an S3 notification of its own (one per
   * suffix of `inputSuffixes`), an upload is made into the variants of the rule its key falls
   * under, and an upload under no rule is skipped. At most 20 rules, whose prefixes may not
   * overlap.
   *
   * @default - no rules: every upload under `inputPrefix` is made into `variants`
   */
  readonly rules?: ImageRule[];

  /**
   * The input formats processed; anything else gets a failure record.
   *
   * @default - JPEG, PNG, WebP, GIF, TIFF and AVIF
   */
  readonly acceptedFormats?: InputFormat[];

  /**
   * Inputs with more pixels than this (width x height) are rejected before they are decoded.
   *
   * @default 40000000
   */
  readonly maxInputPixels?: number;

  /**
   * Inputs larger than this are rejected before they are downloaded.
   *
   * @default Size.mebibytes(50)
   */
  readonly maxInputBytes?: Size;

  /**
   * Keep the input's metadata (EXIF, GPS, XMP, ICC) in the outputs.
   *
   * @default false - metadata is stripped; EXIF orientation is always applied
   */
  readonly keepMetadata?: boolean;

  /**
   * The processor's architecture; the sharp layer matches it.
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * The processor's memory, in MB (128 to 10240). Lambda's CPU share grows with it.
   *
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * The processor's timeout, at most 15 minutes.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;

  /**
   * Concurrent executions reserved for the processor, which also caps it. In queue mode it is at
   * least 2 and also sets the upload queue's maximum concurrency (see `queueMaxConcurrency`), so
   * that Lambda takes no more messages than the function may run.
   *
   * @default - no reservation: the account's unreserved concurrency
   */
  readonly reservedConcurrency?: number;

  /**
   * How many times Lambda retries a failed asynchronous invocation (0 to 2) before the event
   * goes to the failure queue. Not with `TriggerMode.QUEUE`, where `queueMaxReceiveCount` counts
   * the attempts.
   *
   * @default 2
   */
  readonly retryAttempts?: number;

  /**
   * How long Lambda keeps trying an event (1 minute to 6 hours) before it goes to the failure queue.
   * Not with `TriggerMode.QUEUE`, where the queue keeps the messages.
   *
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;

  /**
   * How long the processor's logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * A KMS key to encrypt the buckets this construct creates; the processor is granted
   * `kms:Decrypt` (input) and `kms:GenerateDataKey` (output) on it. Buckets you bring keep their
   * own encryption (their `encryptionKey`, if any, is granted the same way).
   *
   * @default - S3-managed encryption (SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How uploads reach the processor.
   *
   * @default TriggerMode.S3_NOTIFICATION
   */
  readonly trigger?: TriggerMode;

  /**
   * In queue mode, the most messages one invocation gets (1 to 10000; above 10 needs
   * `queueMaxBatchingWindow`).
   *
   * @default 10
   */
  readonly queueBatchSize?: number;

  /**
   * In queue mode, how long Lambda may wait to fill a batch (at most 5 minutes). The upload
   * queue's visibility timeout is six times the function's timeout plus this window.
   *
   * @default - no wait
   */
  readonly queueMaxBatchingWindow?: Duration;

  /**
   * In queue mode, how many times an upload message is received (5 to 1000) before it goes to the
   * failure queue. A batch that Lambda could not run because the function was throttled counts
   * as a receive too, hence at least 5.
   *
   * @default 5
   */
  readonly queueMaxReceiveCount?: number;

  /**
   * In queue mode, the most concurrent invocations the upload queue's event source makes (2 to
   * 1000), without reserving concurrency: Lambda then reads no more messages than it can run. At
   * most `reservedConcurrency` when both are set.
   *
   * @default - `reservedConcurrency` (1000 if it is higher) when it is set, otherwise no limit
   * but the account's concurrency
   */
  readonly queueMaxConcurrency?: number;

  /**
   * In queue mode, how many records of a batch one invocation processes at once (1 to 64, at most
   * `queueBatchSize`). While one image waits on S3 another is transformed, so a batch is billed
   * for less time than its images one after another. Each record at once needs its share of the
   * memory: `memorySize` must be at least 100 MB plus 28 MB per record, and each record may use
   * 1/concurrency of what the function spares for images (larger inputs are rejected as
   * too-many-pixels before they are decoded).
   *
   * @default 1
   */
  readonly concurrency?: number;

  /**
   * What happens to the buckets this construct creates when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Send an EventBridge event after each upload: `ImageProcessed` (input key, eTag, outputs and
   * their sizes) or `ImageRejected` (the reason), with source `image-preprocessing-pipeline`.
   * See `onImageProcessed` and `onImageRejected`.
   *
   * @default true
   */
  readonly emitEvents?: boolean;

  /**
   * The bus the events go to.
   *
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Rejected uploads in 5 minutes that raise the rejected-images alarm.
   *
   * @default 1
   */
  readonly rejectedImagesAlarmThreshold?: number;

  /**
   * An SNS topic notified when an alarm fires (and when it recovers).
   *
   * @default - the alarms notify nobody
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * Make the pipeline's CloudWatch dashboard (a dashboard costs a fixed monthly fee; the metrics
   * and alarms are there either way, for a dashboard of your own).
   *
   * @default true
   */
  readonly createDashboard?: boolean;

  /**
   * The sharp layer of the processor; its architecture must be the processor's.
   *
   * @default - one SharpLayer per stack and architecture, shared by every pipeline of the stack
   */
  readonly sharpLayer?: SharpLayer;

  /**
   * X-Ray tracing of the processor.
   *
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Write a manifest of each processed upload beside its outputs, at
   * `<outputPrefix>_manifests/<input key less inputPrefix>.json`: each output's key, format, width,
   * height, bytes and SHA-256; the input's format and size; a BlurHash placeholder, the dominant
   * colour and a 64-bit perceptual hash (for near-duplicates in datasets); and the labels, with
   * `labels`. The ImageProcessed event carries it too, within EventBridge's 256 KB. A newer upload's
   * manifest always wins, as its outputs do.
   *
   * @default false
   */
  readonly manifest?: boolean;

  /**
   * Deleting an input deletes its outputs, its manifest and its failure record: the input bucket's
   * `s3:ObjectRemoved:*` notifications (same prefix and suffixes as the uploads') reach the
   * processor too (through the upload queue in queue mode), ordered with the uploads by S3's event
   * sequencer, so a delete followed by a re-upload ends with the new outputs whatever order the
   * events run in. A delete leaves a small tombstone under `<outputPrefix>_deleted/`. The processor
   * deletes only under the output prefix, never in the input bucket.
   *
   * @default false
   */
  readonly processDeletes?: boolean;

  /**
   * Amazon Rekognition labels of each upload, in the manifest and the ImageProcessed event:
   * DetectLabels reads the input from S3 by reference (no image bytes pass through the function).
   * The processor is granted `rekognition:DetectLabels` only. Billed per image by Rekognition.
   * The local mode has no Rekognition and writes no labels.
   *
   * @default - no labels
   */
  readonly labels?: LabelDetection;

  /**
   * Make a role for S3 Batch Operations jobs that run the processor over objects already in the
   * input bucket (`batchOperationsRole`), for backfills too large for one machine's invoke loop
   * (`image-pipeline backfill --batch`). `{}` makes it with its defaults.
   *
   * @default - no role
   */
  readonly batchOperations?: BatchOperationsOptions;

  /**
   * CORS rules of the input bucket, when the construct creates it (for uploads from a browser).
   *
   * @default - no CORS rules
   */
  readonly inputBucketCors?: s3.CorsRule[];

  /**
   * Lifecycle rules of the input bucket, when the construct creates it (for example to expire
   * uploads once they are processed).
   *
   * @default - no lifecycle rules
   */
  readonly inputBucketLifecycleRules?: s3.LifecycleRule[];

  /**
   * Lifecycle rules of the output bucket, when the construct creates it.
   *
   * @default - no lifecycle rules
   */
  readonly outputBucketLifecycleRules?: s3.LifecycleRule[];

  /**
   * An HTTP API in front of the pipeline for end users without AWS credentials: presigned uploads
   * to new keys under `<inputPrefix>uploads/`, and each upload's state (see `UploadApi`). IAM
   * authorization unless the options name an authorizer. `{}` makes it with its defaults.
   *
   * @default - no upload API
   */
  readonly uploadApi?: UploadApiOptions;
}
