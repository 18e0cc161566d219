/**
 * Test images, generated on the fly with sharp (no binary fixtures in the repository), and the
 * independent facts the tests compare outputs with: decoded size, channels, pixel values, and the
 * luminance a grayscale conversion should give.
 */
import sharp from 'sharp';

export interface Rgb {
  readonly r: number;
  readonly g: number;
  readonly b: number;
}

export const RED: Rgb = { r: 255, g: 0, b: 0 };
export const GREEN: Rgb = { r: 0, g: 255, b: 0 };
export const BLUE: Rgb = { r: 0, g: 0, b: 255 };
export const WHITE: Rgb = { r: 255, g: 255, b: 255 };
export const BLACK: Rgb = { r: 0, g: 0, b: 0 };
/** Unsaturated, so it survives palette (GIF) and lossy encoders nearly unchanged. */
export const TEAL: Rgb = { r: 51, g: 153, b: 204 };

export function hex(c: Rgb): string {
  return `#${[c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The grey level a colourimetric grayscale conversion gives a solid sRGB colour: its relative
 * luminance Y (Rec. 709 / sRGB primaries, computed in linear light, IEC 61966-2-1 transfer
 * function), encoded back to an 8-bit sRGB grey.
 */
export function srgbLuminance(c: Rgb): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const y = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const enc = y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055;
  return Math.round(enc * 255);
}

export type Encoding = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

export function encodeAs(img: sharp.Sharp, format: Encoding): Promise<Buffer> {
  switch (format) {
    case 'jpeg': return img.jpeg({ quality: 95 }).toBuffer();
    case 'png': return img.png().toBuffer();
    case 'webp': return img.webp({ lossless: true }).toBuffer();
    case 'gif': return img.gif().toBuffer();
    case 'tiff': return img.tiff().toBuffer();
    case 'avif': return img.avif({ quality: 90, effort: 0 }).toBuffer();
  }
}

/** A solid-colour image. */
export function solid(width: number, height: number, colour: Rgb, format: Encoding = 'png'): Promise<Buffer> {
  return encodeAs(sharp({ create: { width, height, channels: 3, background: colour } }), format);
}

/** Raw interleaved pixels, one `fill(x, y)` colour each: for patterns whose geometry tests check. */
export function rawPattern(width: number, height: number, fill: (x: number, y: number) => Rgb): sharp.Sharp {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = fill(x, y);
      const i = (y * width + x) * 3;
      data[i] = c.r;
      data[i + 1] = c.g;
      data[i + 2] = c.b;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Left half `left`, right half `right`. */
export function halves(width: number, height: number, left: Rgb, right: Rgb, format: Encoding = 'png'): Promise<Buffer> {
  return encodeAs(rawPattern(width, height, (x) => (x < width / 2 ? left : right)), format);
}

/** A 300x200 image, white in its top-left 150x100 quadrant and black elsewhere. */
export function topLeftQuadrant(): sharp.Sharp {
  return rawPattern(300, 200, (x, y) => (x < 150 && y < 100 ? WHITE : BLACK));
}

/**
 * A JPEG whose stored pixels are `topLeftQuadrant()` and whose EXIF orientation is 6 ("rotate 90°
 * clockwise to display"): displayed upright it is 200x300 with the white quadrant top-right.
 */
export function orientation6Jpeg(): Promise<Buffer> {
  return topLeftQuadrant().withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
}

/** A JPEG with a camera make, a copyright and a GPS position in its EXIF. */
export async function jpegWithExif(): Promise<Buffer> {
  return sharp({ create: { width: 60, height: 40, channels: 3, background: hex(TEAL) } })
    .withExifMerge({
      IFD0: { Make: 'AcmeCam', Copyright: 'Jane Roe' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    })
    .jpeg()
    .toBuffer();
}

/** A CMYK JPEG of an sRGB colour (converted by sharp's built-in CMYK profile). */
export function cmykJpeg(width: number, height: number, colour: Rgb): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
}

/** A 16-bit-per-channel RGB PNG of one colour. */
export function png16(width: number, height: number, colour: Rgb): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } }).toColourspace('rgb16').png().toBuffer();
}

/**
 * An RGBA PNG: the left half fully transparent (its hidden colour `hidden`), the right half opaque
 * `opaque`.
 */
export function halfTransparentPng(width: number, height: number, hidden: Rgb, opaque: Rgb): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const transparent = x < width / 2;
      const c = transparent ? hidden : opaque;
      const i = (y * width + x) * 4;
      data[i] = c.r;
      data[i + 1] = c.g;
      data[i + 2] = c.b;
      data[i + 3] = transparent ? 0 : 255;
    }
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** An animated image (GIF or WebP), one solid frame per colour. */
export function animated(width: number, frameHeight: number, frames: Rgb[], format: 'gif' | 'webp'): Promise<Buffer> {
  const img = rawPattern(width, frameHeight * frames.length, (_x, y) => frames[Math.floor(y / frameHeight)]);
  // Re-read the raw pixels as pages of `frameHeight` rows.
  return img.raw().toBuffer().then((data) => {
    const pages = sharp(data, { raw: { width, height: frameHeight * frames.length, channels: 3, pageHeight: frameHeight } });
    return format === 'gif' ? pages.gif().toBuffer() : pages.webp({ lossless: true }).toBuffer();
  });
}

export function svg(width: number, height: number, colour: Rgb): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
    + `<rect width="${width}" height="${height}" fill="${hex(colour)}"/></svg>`);
}

/** Deterministic pseudo-random bytes (Park-Miller minimal standard generator), so a failure reproduces. */
export function noiseBytes(length: number, seed = 20240601): Buffer {
  const out = Buffer.alloc(length);
  let s = seed % 2147483647 || 1;
  for (let i = 0; i < length; i++) {
    s = (s * 48271) % 2147483647;
    out[i] = s % 256;
  }
  return out;
}

/** A photo-like image (gaussian noise) whose encoding is large enough to truncate meaningfully. */
export function noisy(width: number, height: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  return encodeAs(sharp({ create: { width, height, channels: 3, background: hex(TEAL), noise: { type: 'gaussian', mean: 128, sigma: 40 } } }), format);
}

/** The first `fraction` of the bytes. */
export function truncate(buf: Buffer, fraction: number): Buffer {
  return Buffer.from(buf.subarray(0, Math.floor(buf.length * fraction)));
}

/**
 * A JPEG cut to `fraction` of its bytes with an end-of-image marker (FF D9) appended, as a broken
 * upload or copy leaves it: libjpeg only warns that the scan ended early and fills the rest grey.
 */
export function truncatedWithEnd(jpeg: Buffer, fraction: number): Buffer {
  return Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * fraction)), Buffer.from([0xff, 0xd9])]);
}

/**
 * A JPEG with stray bytes between two segments, before its first quantization table (DQT), as
 * some cameras and editors write them: libjpeg warns ("extraneous bytes before marker 0xdb"),
 * skips them and decodes the image whole.
 */
export function strayBytesBeforeMarker(jpeg: Buffer): Buffer {
  let i = 2;
  while (jpeg[i + 1] !== 0xdb) i += 2 + jpeg.readUInt16BE(i + 2);
  return Buffer.concat([jpeg.subarray(0, i), Buffer.from([0x00, 0x12, 0x34]), jpeg.subarray(i)]);
}

export interface Decoded {
  readonly format: string;
  readonly width: number;
  readonly height: number;
  /** Channels as stored in the file (a grayscale JPEG is 1). */
  readonly channels: number;
  readonly hasAlpha: boolean;
  readonly pages: number;
  readonly exif?: Buffer;
  readonly depth?: string;
}

/** Reads an encoded output's header, independently of the code under test. */
export async function decode(buf: Buffer): Promise<Decoded> {
  const m = await sharp(buf).metadata();
  return {
    format: m.format,
    width: m.width,
    height: m.height,
    channels: m.channels,
    hasAlpha: m.hasAlpha,
    pages: m.pages ?? 1,
    exif: m.exif,
    depth: m.depth,
  };
}

/**
 * Mean of each channel over a region of an encoded image, computed here from the decoded pixels
 * (sharp's `stats()` describes the whole input and ignores `extract()`). Channels are as sharp's raw
 * output gives them: grey for a grey image, but R, G, B, A for a grey-with-alpha one, so read
 * alpha as the last value.
 */
export async function regionMean(buf: Buffer, left: number, top: number, width: number, height: number): Promise<number[]> {
  const { data, info } = await sharp(buf).extract({ left, top, width, height }).raw().toBuffer({ resolveWithObject: true });
  const sums = new Array<number>(info.channels).fill(0);
  for (let i = 0; i < data.length; i++) {
    sums[i % info.channels] += data[i];
  }
  const n = info.width * info.height;
  return sums.map((s) => s / n);
}

/** Mean of each channel over the whole image. */
export async function mean(buf: Buffer): Promise<number[]> {
  const stats = await sharp(buf).stats();
  return stats.channels.map((c) => c.mean);
}
