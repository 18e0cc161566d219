/**
 * Labels of an input, from Amazon Rekognition DetectLabels, which reads the object from S3 itself
 * (by reference: no image bytes go through the function). Rekognition reads the object with the
 * caller's permissions, so the function needs s3:GetObject on it (which it has for every upload)
 * and rekognition:DetectLabels; the bucket must be in Rekognition's region.
 *
 * Rekognition takes JPEG and PNG objects of at most 15 MB: other inputs get no labels, and say
 * why (`labelsSkipped`), as do images it refuses. Throttling and service errors throw, so that the
 * upload is retried. The local mode has no Rekognition: it says so and writes no labels, never
 * made-up ones.
 */
import type { RekognitionClient } from '@aws-sdk/client-rekognition';
import type { Label } from './manifest';
import type { LabelsConfig } from '../src/contract';

export type { Label } from './manifest';

/** What the local mode says when labels are asked for. */
export const LABELS_NEED_AWS = 'labels need Amazon Rekognition on AWS: the local mode writes none';

/** The largest object DetectLabels reads from S3 (Amazon Rekognition's image specifications). */
export const REKOGNITION_MAX_BYTES = 15 * 1024 * 1024;

/** The labels of one input, or why there are none. */
export interface LabelsOutcome {
  readonly labels?: Label[];
  readonly skipped?: string;
}

/**
 * DetectLabels' errors that retrying will not fix for this object: it is not an image Rekognition
 * takes, too large, or unreadable to it. The upload is processed without labels.
 */
const PERMANENT = new Set(['InvalidImageFormatException', 'ImageTooLargeException', 'InvalidS3ObjectException', 'InvalidParameterException']);

/** The format of an image Rekognition takes, from its first bytes; undefined for any other. */
export function rekognitionFormat(body: Buffer): 'jpeg' | 'png' | undefined {
  if (body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return 'jpeg';
  if (body.length >= 8 && body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  return undefined;
}

/** Asks Amazon Rekognition for the labels of S3 objects. */
export class LabelDetector {
  private client?: Promise<RekognitionClient>;

  /**
   * @param newClient makes the Rekognition client on first use (the SDK module is loaded then,
   * not at the function's start)
   */
  constructor(private readonly config: LabelsConfig, private readonly newClient: () => Promise<RekognitionClient>) {}

  /** The labels of `s3://bucket/key`, whose bytes are `body` (read to tell its format and size, never sent). */
  async detect(bucket: string, key: string, body: Buffer, versionId?: string): Promise<LabelsOutcome> {
    if (body.length > REKOGNITION_MAX_BYTES) {
      return { skipped: `the object has ${body.length} bytes; Rekognition reads at most ${REKOGNITION_MAX_BYTES} from S3` };
    }
    if (rekognitionFormat(body) === undefined) return { skipped: 'Rekognition takes JPEG and PNG images only' };
    const { DetectLabelsCommand } = rekognitionModule();
    this.client ??= this.newClient();
    try {
      const res = await (await this.client).send(new DetectLabelsCommand({
        Image: { S3Object: { Bucket: bucket, Name: key, ...(versionId ? { Version: versionId } : {}) } },
        MinConfidence: this.config.minConfidence,
        MaxLabels: this.config.maxLabels,
      }));
      const labels = (res.Labels ?? [])
        .filter((l) => l.Name !== undefined)
        .map((l) => ({ name: l.Name!, confidence: Math.round((l.Confidence ?? 0) * 100) / 100 }));
      return { labels };
    } catch (e) {
      const err = e as Error;
      if (PERMANENT.has(err.name)) return { skipped: `Rekognition refused the image: ${err.name}: ${err.message}` };
      throw e;
    }
  }
}

/** A Rekognition client, its module loaded only when labels are on. */
export async function newRekognitionClient(config: { cacheMiddleware?: boolean } = {}): Promise<RekognitionClient> {
  const { RekognitionClient: Client } = rekognitionModule();
  return new Client(config);
}

/**
 * The Rekognition SDK module, loaded on first use from the Lambda runtime's AWS SDK, not from the
 * handler bundle: bundled, even unused, it made every cold start of the handler about 10% slower
 * (the bundle's require, measured on this machine), labels or not. The name is built at run time
 * so that the bundler leaves it out.
 */
function rekognitionModule(): typeof import('@aws-sdk/client-rekognition') {
  const name = ['@aws-sdk', 'client-rekognition'].join('/');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(name) as typeof import('@aws-sdk/client-rekognition');
}
