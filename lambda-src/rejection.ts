/** The permanent failures: the input itself is at fault, and retrying cannot change the answer. */

/** Why an image is refused for good: retrying cannot change the answer. */
export type RejectReason =
  | 'empty-object'
  | 'too-many-bytes'
  | 'unsupported-format'
  | 'too-many-pixels'
  | 'corrupt-image'
  /** A variant would be larger than an encoder takes, or than LIMITS.outputPixels. */
  | 'output-too-large'
  /** An animation a variant keeps has more frames than LIMITS.animationFrames. */
  | 'too-many-frames'
  /** The input's user metadata, copied onto an output with the variant's own, would pass S3's 2 KB. */
  | 'metadata-too-large';

/** A permanent failure: the input itself is at fault. */
export class ImageRejectedError extends Error {
  constructor(readonly reason: RejectReason, message: string) {
    super(message);
    this.name = 'ImageRejectedError';
  }
}
