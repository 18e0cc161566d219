/** The permanent failures: the input itself is at fault, and retrying cannot change the answer. */

/** Why an image is refused for good: retrying cannot change the answer. */
export type RejectReason =
  | 'empty-object'
  | 'too-many-bytes'
  | 'unsupported-format'
  | 'too-many-pixels'
  | 'corrupt-image'
  /** A variant would be larger than an encoder takes, or than LIMITS.outputPixels. */
  | 'output-too-large';

/** A permanent failure: the input itself is at fault. */
export class ImageRejectedError extends Error {
  constructor(readonly reason: RejectReason, message: string) {
    super(message);
    this.name = 'ImageRejectedError';
  }
}
