/**
 * The headers and user metadata of a variant's outputs: its Cache-Control and Content-Disposition,
 * its own metadata over the input's (when it copies them). The handler's `source-*` metadata is
 * added over these when the output is written (`ordered-writes.ts`), so it always wins.
 */
import { ImageRejectedError } from './rejection';
import { LIMITS, metadataBytes, SOURCE_METADATA, type VariantConfig } from '../src/contract';

export interface OutputHeaders {
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  /** User metadata, without the handler's `source-*`. */
  readonly metadata?: Record<string, string>;
}

const RESERVED = new Set<string>(Object.values(SOURCE_METADATA));

/** What a variant's outputs carry besides the handler's own metadata; `input` is the input object's user metadata. */
export function outputHeaders(v: VariantConfig, input: Readonly<Record<string, string>> | undefined): OutputHeaders {
  let metadata: Record<string, string> | undefined;
  if (v.copyUserMetadata === true && input !== undefined) {
    metadata = {};
    for (const [k, value] of Object.entries(input)) if (!RESERVED.has(k.toLowerCase())) metadata[k.toLowerCase()] = value;
  }
  if (v.metadata !== undefined) metadata = { ...metadata, ...v.metadata };
  return {
    ...(v.cacheControl === undefined ? {} : { cacheControl: v.cacheControl }),
    ...(v.contentDisposition === undefined ? {} : { contentDisposition: v.contentDisposition }),
    ...(metadata === undefined || Object.keys(metadata).length === 0 ? {} : { metadata }),
  };
}

/**
 * Rejects an upload whose user metadata, copied onto a variant's outputs with the variant's own,
 * would leave no room for the handler's `source-*` metadata within S3's 2 KB: the output could not
 * be written with it, and an output without it could not be ordered.
 */
export function checkOutputMetadata(variants: readonly VariantConfig[], input: Readonly<Record<string, string>> | undefined): void {
  for (const v of variants) {
    if (v.copyUserMetadata !== true) continue;
    const bytes = metadataBytes(outputHeaders(v, input).metadata ?? {});
    const room = LIMITS.userMetadataBytes - LIMITS.sourceMetadataBytes;
    if (bytes > room) {
      throw new ImageRejectedError('metadata-too-large', `the input's user metadata, copied onto variant ${v.name}'s outputs with `
        + `its own, takes ${bytes} bytes: more than the ${room} bytes S3's ${LIMITS.userMetadataBytes} bytes of user metadata leave `
        + 'beside the pipeline\'s source-* metadata');
    }
  }
}

/** True when any of `variants` copies the input's user metadata. */
export function copiesUserMetadata(variants: readonly VariantConfig[]): boolean {
  return variants.some((v) => v.copyUserMetadata === true);
}
