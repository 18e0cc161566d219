/**
 * The image transform: bytes in, one encoded image per variant out. Pure (no S3, no environment),
 * so the handler, the local runner and the tests all run exactly this.
 */
import sharp from 'sharp';
import { readHeader, type Header } from './image-header';
import { ImageRejectedError } from './rejection';
import {
  DEFAULT_QUALITY, HANDLER_BASELINE_MB, INPUT_BYTES_HELD, LIMITS, maxDownloadBytes, OUTPUT_EXTENSIONS, recordMemoryBudget,
  type InputFormat, type OutputFormat, type PipelineConfig, type VariantConfig,
} from '../src/contract';

export { ImageRejectedError, type RejectReason } from './rejection';
export { failureKey, variantKey } from './output-keys';
export type { Header } from './image-header';

export type TransformPolicy = Pick<PipelineConfig,
'variants' | 'acceptedFormats' | 'maxInputPixels' | 'maxInputBytes' | 'keepMetadata'> & {
  /**
   * Memory this process can spend on one image (input bytes and decode buffers). Inputs that
   * would need more are rejected before they are decoded, so the process never runs out.
   * @default - no limit but maxInputBytes and maxInputPixels
   */
  readonly memoryBudgetBytes?: number;
};

/** What the handler's process uses before its first image, MiB (the contract's HANDLER_BASELINE_MB). */
export const BASELINE_MEMORY_MB = HANDLER_BASELINE_MB;

/** The memory one image may use in a function of `memoryMb` megabytes (one record at a time). */
export function memoryBudgetFor(memoryMb: number): number {
  return recordMemoryBudget(memoryMb);
}

export { INPUT_BYTES_HELD };

/**
 * The largest object worth downloading: the configured limit, and never more than a
 * INPUT_BYTES_HELD-th of the memory budget.
 */
export function effectiveMaxBytes(policy: Pick<TransformPolicy, 'maxInputBytes' | 'memoryBudgetBytes'>): number {
  return maxDownloadBytes(policy.maxInputBytes, policy.memoryBudgetBytes);
}

export type EncodedFormat = Exclude<OutputFormat, 'original'> | 'gif' | 'tiff';

export interface VariantOutput {
  readonly variant: string;
  readonly format: EncodedFormat;
  readonly extension: string;
  readonly contentType: string;
  /** What to write; empty when the never-larger guard skipped the variant. */
  readonly body: Buffer;
  readonly width: number;
  /** The height of one frame, for an animation. */
  readonly height: number;
  readonly channels: number;
  /** Frames, when the output is an animation. */
  readonly frames?: number;
  /** Set when the never-larger guard acted: `kept-source` (body is the input's) or `skipped` (nothing to write). */
  readonly note?: { readonly guard: 'kept-source' | 'skipped'; readonly reason: string };
}

export interface TransformResult {
  readonly inputFormat: InputFormat;
  readonly inputWidth: number;
  readonly inputHeight: number;
  readonly outputs: VariantOutput[];
}

const CONTENT_TYPES: Record<EncodedFormat, string> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', avif: 'image/avif', gif: 'image/gif', tiff: 'image/tiff',
};
type Encoding = { extension: string; contentType: string };
const ENCODINGS = Object.fromEntries((Object.keys(CONTENT_TYPES) as EncodedFormat[])
  .map((f) => [f, { extension: OUTPUT_EXTENSIONS[f], contentType: CONTENT_TYPES[f] }])) as Record<EncodedFormat, Encoding>;

/**
 * Sets libvips up for a small, short-lived process: no operation cache (it only holds memory
 * between unrelated images) and a thread pool sized to the CPU share the process has.
 */
export function configureSharp(threads: number): void {
  sharp.cache(false);
  sharp.concurrency(Math.max(1, Math.floor(threads)));
}

/**
 * Every check made before an image is decoded: its bytes, its format, its pixels, the memory its
 * decode needs, the size of every variant. Throws the ImageRejectedError the transform would
 * throw before decoding; returns what the header says.
 */
export async function checkInput(input: Buffer, policy: TransformPolicy): Promise<Header> {
  if (input.length === 0) {
    throw new ImageRejectedError('empty-object', 'the object is empty (0 bytes)');
  }
  const maxBytes = effectiveMaxBytes(policy);
  if (input.length > maxBytes) {
    throw new ImageRejectedError('too-many-bytes', `the object has ${input.length} bytes, more than the limit of ${maxBytes}`);
  }
  const header = await readHeader(input, policy.acceptedFormats.includes('svg'));
  if (!policy.acceptedFormats.includes(header.format)) {
    throw new ImageRejectedError('unsupported-format', `${header.format} images are not accepted (accepted: ${policy.acceptedFormats.join(', ')})`);
  }
  const pixels = header.width * header.height;
  if (pixels > policy.maxInputPixels) {
    throw new ImageRejectedError('too-many-pixels', `the image is ${header.width}x${header.height} (${pixels} pixels), more than the limit of ${policy.maxInputPixels}`);
  }

  if (policy.memoryBudgetBytes !== undefined && header.fullFrameBytes !== undefined
    && header.fullFrameBytes + INPUT_BYTES_HELD * input.length > policy.memoryBudgetBytes) {
    const mib = (n: number) => Math.ceil(n / 1024 / 1024);
    throw new ImageRejectedError('too-many-pixels', `decoding this ${header.width}x${header.height} ${header.layout} needs about `
      + `${mib(header.fullFrameBytes)} MiB at once, more than the ${mib(policy.memoryBudgetBytes)} MiB this function can spare for one image`);
  }

  // An animation a variant keeps: every frame counts, for pixels, memory and the output's size.
  const frames = policy.variants.some((v) => animates(v, header)) ? header.pages : 1;
  if (frames > 1) {
    if (frames > LIMITS.animationFrames) {
      throw new ImageRejectedError('too-many-frames', `the animation has ${frames} frames, more than the limit of ${LIMITS.animationFrames} for a variant that keeps them`);
    }
    if (pixels * frames > policy.maxInputPixels) {
      throw new ImageRejectedError('too-many-pixels', `the animation is ${frames} frames of ${header.width}x${header.height} `
        + `(${pixels * frames} pixels), more than the limit of ${policy.maxInputPixels}`);
    }
    const frameBytes = header.fullFrameBytes ?? pixels * 4;
    if (policy.memoryBudgetBytes !== undefined && frameBytes * frames + INPUT_BYTES_HELD * input.length > policy.memoryBudgetBytes) {
      const mib = (n: number) => Math.ceil(n / 1024 / 1024);
      throw new ImageRejectedError('too-many-pixels', `decoding this animation of ${frames} frames of ${header.width}x${header.height} needs about `
        + `${mib(frameBytes * frames)} MiB at once, more than the ${mib(policy.memoryBudgetBytes)} MiB this function can spare for one image`);
    }
  }

  // Displayed size: EXIF orientation 5 to 8 turns the image a quarter, and it is applied.
  const turned = header.orientation >= 5;
  const shown = { width: turned ? header.height : header.width, height: turned ? header.width : header.height };
  for (const v of policy.variants) {
    const out = outputSize(shown.width, shown.height, v);
    const n = animates(v, header) ? header.pages : 1;
    if (out.width > LIMITS.dimension.max || out.height > LIMITS.dimension.max || out.width * out.height * n > LIMITS.outputPixels) {
      throw new ImageRejectedError('output-too-large', `variant ${v.name} would be ${out.width}x${out.height}${n > 1 ? ` in ${n} frames` : ''} from this `
        + `${shown.width}x${shown.height} image: more than ${LIMITS.dimension.max} pixels on an edge or ${LIMITS.outputPixels} pixels in all`);
    }
  }
  return header;
}

/** True when variant `v` keeps the frames of this input: it asks to, the input is animated, and the format keeps frames. */
export function animates(v: Pick<VariantConfig, 'animated' | 'format'>, header: Pick<Header, 'pages' | 'format'>): boolean {
  if (v.animated !== true || header.pages <= 1) return false;
  const format = encodedFormat(v.format, header.format);
  return format === 'gif' || format === 'webp';
}

/** Decodes `input` once and encodes every configured variant. */
export async function transformImage(input: Buffer, policy: TransformPolicy): Promise<TransformResult> {
  const header = await checkInput(input, policy);

  const render = async (failOn: sharp.FailOnOptions): Promise<VariantOutput[]> => {
    const outputs: VariantOutput[] = [];
    if (policy.variants.length === 1 || policy.keepMetadata || policy.variants.some((v) => animates(v, header))) {
      // Straight from the encoded input (the metadata to keep is there, not in decoded pixels; an
      // animation's frames too).
      for (const v of policy.variants) {
        const all = animates(v, header);
        outputs.push(await encode(decoder(input, policy, failOn, all), v, header.format, policy.keepMetadata, header, all ? header.pages : 1));
      }
    } else {
      // One decode, shrunk on load to the largest size any variant needs, then every variant from it.
      const source = await decodeShared(input, policy, header.hasAlpha, failOn);
      for (const v of policy.variants) {
        outputs.push(await encode(sharp(source.data, { raw: source.info }), v, header.format, false, header));
      }
    }
    return outputs;
  };
  const result = async (outputs: VariantOutput[]): Promise<TransformResult> =>
    ({
      inputFormat: header.format,
      inputWidth: header.width,
      inputHeight: header.height,
      outputs: await guarded(outputs, input, header, policy.variants),
    });
  const corrupt = (e: unknown) => new ImageRejectedError('corrupt-image', `the image could not be decoded: ${(e as Error).message}`);

  if (header.format !== 'jpeg') {
    try {
      return await result(await render('error'));
    } catch (e) {
      throw e instanceof ImageRejectedError ? e : corrupt(e);
    }
  }
  // A JPEG's damaged scan is only a warning to libjpeg: it fills what is missing with grey and goes
  // on. So a JPEG is decoded failing on the first warning; when that warning is one that leaves the
  // pixels whole (extraneous bytes between segments, common in camera files), it is decoded again
  // failing on errors only.
  try {
    return await result(await render('warning'));
  } catch (e) {
    if (e instanceof ImageRejectedError) throw e;
    if (DAMAGED_JPEG_SCAN.test((e as Error).message)) throw corrupt(e);
  }
  try {
    return await result(await render('error'));
  } catch (e) {
    throw e instanceof ImageRejectedError ? e : corrupt(e);
  }
}

/**
 * libjpeg's warnings (and libvips' truncation error) that mean the scan data is missing or
 * damaged: the decoded pixels would be partly invented.
 */
const DAMAGED_JPEG_SCAN = /premature end|bad huffman code|huffman table .* (?:was not|not) defined|found marker 0x[0-9a-f]+ instead of RST|must resync|corrupt JPEG data: bad/i;

/**
 * The size of a variant's output from an image of `width` x `height` (as displayed), as sharp's
 * resize makes it: the box given by width and/or height (the other edge following the aspect ratio
 * when only one is given, except for `fill`, which then keeps the other edge), reached by scaling
 * for inside and outside, by scaling then cropping (cover) or padding (contain) to the box, by
 * stretching for fill; withoutEnlargement never scales up. Both edges at least 1.
 */
export function outputSize(width: number, height: number, v: Pick<VariantConfig, 'width' | 'height' | 'fit' | 'withoutEnlargement'>): { width: number; height: number } {
  if (v.width === undefined && v.height === undefined) return { width, height };
  // Shrink factors (input / output) per axis, as sharp's ResolveShrink computes them.
  let h = 1;
  let s = 1;
  if (v.width !== undefined && v.height !== undefined) {
    h = width / v.width;
    s = height / v.height;
    if (v.fit === 'cover' || v.fit === 'outside') h = s = Math.min(h, s);
    else if (v.fit === 'contain' || v.fit === 'inside') h = s = Math.max(h, s);
  } else if (v.width !== undefined) {
    h = width / v.width;
    if (v.fit !== 'fill') s = h;
  } else {
    s = height / v.height!;
    if (v.fit !== 'fill') h = s;
  }
  if (v.withoutEnlargement) {
    h = Math.max(1, h);
    s = Math.max(1, s);
  }
  const scaled = { width: Math.max(1, Math.round(width / Math.min(h, width))), height: Math.max(1, Math.round(height / Math.min(s, height))) };
  // cover crops to the edges given, contain pads to them (even when withoutEnlargement kept it small).
  const edge = (got: number, given: number | undefined) =>
    given === undefined ? got : v.fit === 'cover' ? Math.min(got, given) : v.fit === 'contain' ? Math.max(got, given) : got;
  return { width: edge(scaled.width, v.width), height: edge(scaled.height, v.height) };
}

/** `allPages`: every frame of an animation (sharp's limitInputPixels then counts them all). */
function decoder(input: Buffer, policy: TransformPolicy, failOn: sharp.FailOnOptions, allPages = false): sharp.Sharp {
  return sharp(input, {
    limitInputPixels: policy.maxInputPixels,
    // 'error' rejects truncated and corrupt data and tolerates warnings; see transformImage for JPEG.
    failOn,
    sequentialRead: true,
    autoOrient: true,
    pages: allPages ? -1 : 1,
  });
}

/**
 * The never-larger guard: a variant with `whenLarger` whose output is larger in bytes than the
 * input keeps the input's bytes (`keep-source`; never an SVG, which is skipped instead) or is
 * skipped (`skip`).
 */
async function guarded(outputs: VariantOutput[], input: Buffer, header: Header, variants: readonly VariantConfig[]): Promise<VariantOutput[]> {
  if (!variants.some((v) => v.whenLarger === 'keep-source' || v.whenLarger === 'skip')) return outputs;
  const byName = new Map(variants.map((v) => [v.name, v]));
  let source: Promise<sharp.Metadata> | undefined;
  return Promise.all(outputs.map(async (out): Promise<VariantOutput> => {
    const action = byName.get(out.variant)?.whenLarger;
    if (action === undefined || action === 'write' || out.body.length <= input.length) return out;
    const larger = `the ${out.format} output (${out.body.length} bytes) is larger than the input (${input.length} bytes)`;
    if (action === 'skip' || header.format === 'svg') {
      const why = action === 'skip' ? larger : `${larger}; an SVG input is never written as an output`;
      return { ...out, body: Buffer.alloc(0), note: { guard: 'skipped', reason: why } };
    }
    const meta = await (source ??= sharp(input, { limitInputPixels: false }).metadata());
    const format = header.format;
    return {
      variant: out.variant,
      format,
      ...ENCODINGS[format],
      body: input,
      width: header.width,
      height: header.height,
      channels: meta.channels ?? 3,
      ...(header.pages > 1 ? { frames: header.pages } : {}),
      note: { guard: 'kept-source', reason: `${larger}; the input is written unchanged` },
    };
  }));
}

async function decodeShared(
  input: Buffer, policy: TransformPolicy, hasAlpha: boolean, failOn: sharp.FailOnOptions,
): Promise<{ data: Buffer; info: sharp.Raw }> {
  let img = decoder(input, policy, failOn);
  const sized = policy.variants.every((v) => v.width !== undefined || v.height !== undefined);
  if (sized) {
    const width = Math.max(...policy.variants.map((v) => v.width ?? v.height ?? 1));
    const height = Math.max(...policy.variants.map((v) => v.height ?? v.width ?? 1));
    img = img.resize({ width, height, fit: 'outside', withoutEnlargement: true });
  }
  // One channel is enough when every variant is grayscale; raw b-w output has no alpha, so not then.
  if (!hasAlpha && policy.variants.every((v) => v.grayscale)) {
    img = img.toColourspace('b-w');
  }
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { data, info: { width: info.width, height: info.height, channels: info.channels } };
}

interface SourceInfo {
  readonly hasAlpha: boolean;
}

async function encode(
  img: sharp.Sharp, v: VariantConfig, inputFormat: InputFormat, keepMetadata: boolean, source: SourceInfo, frames = 1,
): Promise<VariantOutput> {
  const format = encodedFormat(v.format, inputFormat);
  let p = img;
  if (v.width !== undefined || v.height !== undefined) {
    p = p.resize({
      width: v.width,
      height: v.height,
      fit: v.fit,
      withoutEnlargement: v.withoutEnlargement,
      background: v.background,
      // Close to the original's bicubic, and cheaper than the default lanczos3.
      kernel: sharp.kernel.mitchell,
      ...(v.position === undefined ? {} : { position: v.position }),
    });
  }
  if (format === 'jpeg' && source.hasAlpha) {
    p = p.flatten({ background: v.background });
  }
  if (v.grayscale) {
    // A true one-channel image (plus alpha where the format keeps it), as the original wrote.
    p = p.toColourspace('b-w');
  }
  if (keepMetadata) {
    p = p.keepMetadata();
  }
  switch (format) {
    case 'jpeg': p = p.jpeg({ quality: v.quality ?? DEFAULT_QUALITY.jpeg }); break;
    case 'png': p = p.png(); break;
    case 'webp': p = p.webp({ quality: v.quality ?? DEFAULT_QUALITY.webp }); break;
    case 'avif': p = p.avif({ quality: v.quality ?? DEFAULT_QUALITY.avif, effort: 2 }); break;
    case 'gif': p = p.gif(); break;
    case 'tiff': p = p.tiff({ quality: v.quality ?? DEFAULT_QUALITY.tiff }); break;
  }
  const { data, info } = await p.toBuffer({ resolveWithObject: true });
  return {
    variant: v.name,
    format,
    ...ENCODINGS[format],
    body: data,
    width: info.width,
    height: frames > 1 ? Math.round(info.height / frames) : info.height,
    channels: info.channels,
    ...(frames > 1 ? { frames } : {}),
  };
}

function encodedFormat(wanted: OutputFormat, input: InputFormat): EncodedFormat {
  if (wanted !== 'original') return wanted;
  return input === 'svg' ? 'png' : input;
}
