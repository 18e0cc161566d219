/**
 * The manifest of a processed upload: a JSON document beside its outputs, under
 * `<outputPrefix>_manifests/<input key less inputPrefix>.json`, and in its ImageProcessed event.
 * It describes every output (key, format, size, bytes, SHA-256), the input (format, size), and the
 * image itself for datasets: a BlurHash placeholder (the `blurhash` package), the dominant colour
 * (sharp's `stats().dominant`) and a 64-bit perceptual hash for near-duplicate detection (the
 * `sharp-phash` package), all three from one small thumbnail decoded with shrink-on-load.
 */
import { createHash } from 'crypto';
import { encode as blurHash } from 'blurhash';
import sharp from 'sharp';
import phash from 'sharp-phash';

/** The manifest document's version. */
export const MANIFEST_VERSION = 1;

/**
 * The longest edge of the thumbnail the image's hashes are computed from: twice the perceptual
 * hash's 32x32 sample (at 32, one picture at two sizes drifts apart by a few more bits).
 */
export const FINGERPRINT_EDGE = 64;

/** The placeholder's BlurHash components across and down (a landscape photograph's usual 4x3). */
export const BLURHASH_COMPONENTS = { x: 4, y: 3 } as const;

/** EventBridge's limit on one entry (its detail, source, detail type and time): 256 KB. */
export const EVENT_ENTRY_LIMIT = 256 * 1024;

/** One label Amazon Rekognition found, with its confidence in percent. */
export interface Label {
  readonly name: string;
  readonly confidence: number;
}

/** What the image looks like, for placeholders and near-duplicate detection. */
export interface ImageFingerprint {
  /** BlurHash of the image (4x3 components, 28 characters): a placeholder to draw while the image loads. */
  readonly blurHash: string;
  /** The dominant colour, `#rrggbb`. */
  readonly dominantColour: string;
  /**
   * The DCT perceptual hash (64 bits, 16 hex digits): two images whose hashes differ in few
   * bits (a Hamming distance of about 10 or less) look alike.
   */
  readonly perceptualHash: string;
}

/** An output as the manifest lists it: what the handler wrote, and the SHA-256 of its bytes. */
export type ManifestOutput<O> = O & { readonly sha256: string };

export interface Manifest<O = Record<string, unknown>> {
  readonly version: typeof MANIFEST_VERSION;
  readonly bucket: string;
  readonly key: string;
  readonly eTag?: string;
  /** The S3 event's sequencer: which upload of the key this describes. */
  readonly sequencer?: string;
  readonly size: number;
  readonly input: { readonly format: string; readonly width: number; readonly height: number };
  readonly outputs: ManifestOutput<O>[];
  readonly blurHash: string;
  readonly dominantColour: string;
  readonly perceptualHash: string;
  /** Amazon Rekognition's labels, when labels are on and Rekognition could read the image. */
  readonly labels?: Label[];
  /** Why there are no labels, when labels are on and there are none. */
  readonly labelsSkipped?: string;
  readonly time: string;
}


/**
 * The image's placeholder, dominant colour and perceptual hash, from one thumbnail of at most
 * 64x64 pixels. A JPEG or WebP is shrunk while it is decoded (shrink-on-load), so this costs a
 * fraction of the variants' own decode; the input was already checked by the transform.
 */
export async function fingerprint(input: Buffer, limitInputPixels: number): Promise<ImageFingerprint> {
  // read in one pass, as the transform reads it: no whole decode of a large PNG held in memory
  const { data, info } = await sharp(input, { failOn: 'none', pages: 1, autoOrient: true, limitInputPixels, sequentialRead: true })
    .resize(FINGERPRINT_EDGE, FINGERPRINT_EDGE, { fit: 'inside' })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  // BlurHash's encoder costs in proportion to the pixels (10 ms at 64 pixels, 3 ms at 32, on the
  // bench's photographs) and a placeholder of 4x3 components needs no more: half the thumbnail.
  const half = halve(data, width, height);
  const placeholder = blurHash(half.rgba, half.width, half.height, BLURHASH_COMPONENTS.x, BLURHASH_COMPONENTS.y);

  // What a viewer sees: the pixels over white, without alpha.
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    const a = data[i + 3];
    for (let c = 0; c < 3; c++) rgb[j + c] = Math.round((data[i + c] * a + 255 * (255 - a)) / 255);
  }
  const raw = { width, height, channels: 3 as const };
  const { dominant } = await sharp(rgb, { raw }).stats();
  const bits = await phash(rgb, { raw });
  return {
    blurHash: placeholder,
    dominantColour: `#${[dominant.r, dominant.g, dominant.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`,
    perceptualHash: BigInt(`0b${bits}`).toString(16).padStart(16, '0'),
  };
}

/** An RGBA image at half its size (each pixel the mean of two by two), unless it is already small. */
function halve(rgba: Buffer, width: number, height: number): { rgba: Uint8ClampedArray; width: number; height: number } {
  if (width < 32 || height < 32) return { rgba: new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height };
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        const at = (yy: number, xx: number) => rgba[(yy * width + xx) * 4 + c];
        out[(y * w + x) * 4 + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1) + 2) / 4;
      }
    }
  }
  return { rgba: out, width: w, height: h };
}

/** The number of bits in which two perceptual hashes differ: small for images that look alike. */
export function hammingDistance(a: string, b: string): number {
  const bits = (h: string) => BigInt(`0x${h}`).toString(2).padStart(64, '0');
  const x = bits(a);
  const y = bits(b);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

/** SHA-256 of some bytes, hex. */
export function sha256(body: Buffer | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The manifest of an upload: its outputs (with the SHA-256 of each body, in the same order), the input, the fingerprint. */
export function buildManifest<O extends object>(m: Pick<Manifest<O>, 'bucket' | 'key' | 'eTag' | 'sequencer' | 'size' | 'input'> & {
  readonly outputs: readonly O[];
  readonly bodies: readonly (Buffer | Uint8Array)[];
  readonly fingerprint: ImageFingerprint;
  readonly labels?: { readonly labels?: Label[]; readonly skipped?: string };
}): Manifest<O> {
  return {
    version: MANIFEST_VERSION,
    bucket: m.bucket,
    key: m.key,
    eTag: m.eTag?.replace(/"/g, ''),
    sequencer: m.sequencer,
    size: m.size,
    input: { format: m.input.format, width: m.input.width, height: m.input.height },
    // every field the handler reports for an output, whatever it is, and the digest
    outputs: m.outputs.map((o, i) => ({ ...o, sha256: sha256(m.bodies[i]) })),
    ...m.fingerprint,
    ...(m.labels?.labels ? { labels: m.labels.labels } : {}),
    ...(m.labels?.skipped ? { labelsSkipped: m.labels.skipped } : {}),
    time: new Date().toISOString(),
  };
}

/**
 * The ImageProcessed event's detail with its manifest, within EventBridge's limit on one entry:
 * when the whole would not fit (very long keys, many labels), the event carries the manifest's
 * key and `manifestTruncated: true` instead of the manifest, which is whole in the output bucket.
 * @param overhead the bytes of the entry besides its detail (source, detail type, time)
 */
export function withManifest(detail: Record<string, unknown>, manifest: Manifest<object>, key: string, overhead: number): Record<string, unknown> {
  const full = { ...detail, manifestKey: key, manifest };
  if (Buffer.byteLength(JSON.stringify(full)) + overhead <= EVENT_ENTRY_LIMIT) return full;
  return { ...detail, manifestKey: key, manifestTruncated: true };
}
