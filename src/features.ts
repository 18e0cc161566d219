import * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * Amazon Rekognition labels of each upload (`labels`): DetectLabels reads the input object from S3
 * itself, and the labels, with their confidence, go to the manifest and the ImageProcessed event.
 * Rekognition takes JPEG and PNG objects of at most 15 MB in its own region; other inputs are
 * processed without labels, and the manifest says why.
 */
export interface LabelDetection {
  /**
   * The least confidence, in percent (0 to 100), of a label kept.
   *
   * @default 55
   */
  readonly minConfidence?: number;

  /**
   * The most labels kept (1 to 100), the most confident first.
   *
   * @default 10
   */
  readonly maxLabels?: number;
}

/**
 * A role for S3 Batch Operations jobs that run the processor over objects already in the input
 * bucket (`batchOperations`); `image-pipeline backfill --batch` creates such jobs. The role may
 * invoke the processor, read the jobs' manifests and write their completion reports, nothing else.
 */
export interface BatchOperationsOptions {
  /**
   * A bucket holding S3 Inventory reports of the input bucket, whose manifests the jobs may read
   * (`image-pipeline backfill --batch --inventory s3://.../manifest.json`).
   *
   * @default - none: jobs read only the CSV manifests `image-pipeline backfill --batch` writes
   * under `<outputPrefix>_batch/manifests/` in the output bucket
   */
  readonly inventoryBucket?: s3.IBucket;

  /**
   * The key prefix of the inventory reports in `inventoryBucket`.
   *
   * @default '' (the whole bucket)
   */
  readonly inventoryPrefix?: string;
}
