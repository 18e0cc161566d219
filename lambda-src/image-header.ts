/**
 * What an input is, read from its header before any decode: format, dimensions, layout, and what
 * a whole-image decode of it would need.
 */
import sharp from 'sharp';
import { jpegExifOrientation, plainJpegFrame } from './jpeg-header';
import { ImageRejectedError } from './rejection';
import type { InputFormat } from '../src/contract';

export interface Header {
  readonly format: InputFormat;
  readonly width: number;
  readonly height: number;
  readonly hasAlpha: boolean;
  /**
   * For layouts that libvips must decode whole before it can shrink (progressive JPEG, interlaced
   * PNG, GIF, AVIF, lossless WebP), the bytes that takes; undefined for layouts decoded in strips.
   */
  readonly fullFrameBytes?: number;
  readonly layout: string;
  /** EXIF orientation, 1 when none. */
  readonly orientation: number;
  /** Frames (pages) of an animated or multi-page image, 1 for others. */
  readonly pages: number;
}

/** Bytes a whole-image decode holds, for the layouts that need one. */
function fullFrameBytes(format: InputFormat, meta: sharp.Metadata, width: number, height: number, input: Buffer): number | undefined {
  const pixels = width * height;
  const sampleBytes = /16|32|short|float|double/.test(String(meta.depth)) ? 2 : 1;
  const channels = meta.channels ?? 3;
  switch (format) {
    case 'jpeg': {
      if (!meta.isProgressive) return undefined;
      // All DCT coefficients are kept (2 bytes each), one set per sample of each component.
      const samples = channels === 1 ? 1 : meta.chromaSubsampling === '4:2:0' ? 1.5 : meta.chromaSubsampling === '4:2:2' ? 2 : channels;
      return pixels * samples * 2;
    }
    case 'png':
      return meta.isProgressive ? pixels * channels * sampleBytes : undefined;
    // Measured (bench/mem-limits.ts): libnsgif's RGBA frame and libvips' copy of it, about 7 bytes
    // a pixel; libheif with libaom, about 19 to 21 bytes a pixel of an 8-bit AVIF (the decoder's
    // frame buffers, the YUV planes, the RGB image).
    case 'gif':
      return pixels * 8;
    case 'avif':
      return pixels * 22 * sampleBytes;
    case 'webp':
      // Lossless WebP (VP8L) is decoded into a whole ARGB image, 4 bytes a pixel, before any
      // scaling; lossy WebP is decoded by macroblock rows, scaled as it goes.
      return webpLossless(input) ? pixels * 4 : undefined;
    default:
      return undefined;
  }
}

/** Whether a WebP's (first) image is lossless: a VP8L chunk, at the top level or in the first frame. */
function webpLossless(b: Buffer): boolean {
  const walk = (from: number, to: number): boolean => {
    for (let i = from; i + 8 <= to;) {
      const fourcc = b.toString('latin1', i, i + 4);
      const size = b.readUInt32LE(i + 4);
      if (fourcc === 'VP8L') return true;
      if (fourcc === 'VP8 ') return false;
      // An animation frame: 16 bytes of frame header, then its image's chunks.
      if (fourcc === 'ANMF') return walk(i + 8 + 16, Math.min(to, i + 8 + size));
      i += 8 + size + (size % 2);
    }
    return false;
  };
  return b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' && walk(12, b.length);
}

export async function readHeader(input: Buffer, svgAccepted: boolean): Promise<Header> {
  // The common case without a sharp call; a baseline JPEG is decoded in strips.
  const jpeg = plainJpegFrame(input);
  if (jpeg) {
    return { format: 'jpeg', width: jpeg.width, height: jpeg.height, hasAlpha: false, layout: 'JPEG', orientation: jpegExifOrientation(input) ?? 1, pages: 1 };
  }
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (e) {
    const message = (e as Error).message;
    if (/exceeds pixel limit/i.test(message)) {
      throw new ImageRejectedError('too-many-pixels', `the image header declares more pixels than can be decoded: ${message}`);
    }
    // An XML document that libvips took for an SVG is only corrupt if SVG is accepted at all.
    if (/unsupported image format/i.test(message) || (!svgAccepted && /\b(svg|xml)\b/i.test(message))) {
      throw new ImageRejectedError('unsupported-format', 'the object is not an image in a format this pipeline reads');
    }
    throw new ImageRejectedError('corrupt-image', `the image header could not be read: ${message}`);
  }
  const format = inputFormatOf(meta);
  if (format === undefined) {
    throw new ImageRejectedError('unsupported-format', `${meta.format} images are not supported`);
  }
  if (!meta.width || !meta.height) {
    throw new ImageRejectedError('corrupt-image', 'the image header has no dimensions');
  }
  // Multi-page images (GIF, TIFF) are read one page at a time: the first page counts.
  const height = meta.pageHeight ?? meta.height;
  const layout = meta.isProgressive ? `${format === 'png' ? 'interlaced' : 'progressive'} ${format.toUpperCase()}` : format.toUpperCase();
  return {
    format,
    width: meta.width,
    height,
    hasAlpha: meta.hasAlpha ?? false,
    fullFrameBytes: fullFrameBytes(format, meta, meta.width, height, input),
    layout,
    orientation: meta.orientation ?? 1,
    pages: Math.max(1, meta.pages ?? 1),
  };
}

function inputFormatOf(meta: sharp.Metadata): InputFormat | undefined {
  switch (meta.format) {
    case 'jpeg': case 'png': case 'webp': case 'gif': case 'tiff': case 'svg':
      return meta.format;
    case 'heif':
      return meta.compression === 'av1' ? 'avif' : undefined;
    default:
      return undefined;
  }
}
