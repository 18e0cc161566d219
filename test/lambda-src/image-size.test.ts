/**
 * The upload API reads each output's dimensions from its first bytes, without sharp: every format
 * the processor writes, in the layouts sharp writes them, against sharp's own reading.
 */
import sharp from 'sharp';
import { HEADER_BYTES, imageSize, tiffIfdOffset, tiffIfdSize } from '../../lambda-src/api/image-size';

async function encoded(width: number, height: number, f: (s: sharp.Sharp) => sharp.Sharp, alpha = false): Promise<Buffer> {
  const input = sharp({ create: { width, height, channels: alpha ? 4 : 3, background: { r: 40, g: 90, b: 160, alpha: 0.5 }, noise: { type: 'gaussian', mean: 100, sigma: 20 } } });
  return f(input).toBuffer();
}

describe('imageSize', () => {
  test.each<[string, (s: sharp.Sharp) => sharp.Sharp, boolean]>([
    ['baseline JPEG', (s) => s.jpeg(), false],
    ['progressive JPEG', (s) => s.jpeg({ progressive: true }), false],
    ['grayscale JPEG with EXIF and ICC', (s) => s.toColourspace('b-w').withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(2000) } } }).jpeg(), false],
    ['PNG', (s) => s.png(), false],
    ['interlaced PNG with alpha', (s) => s.png({ progressive: true }), true],
    ['lossy WebP', (s) => s.webp(), false],
    ['lossless WebP', (s) => s.webp({ lossless: true }), false],
    ['WebP with alpha (VP8X)', (s) => s.webp(), true],
    ['AVIF', (s) => s.avif({ effort: 0 }), false],
    ['GIF', (s) => s.gif(), false],
    ['TIFF', (s) => s.tiff(), false],
  ])('%s', async (_what, f, alpha) => {
    for (const [w, h] of [[256, 256], [1203, 77], [31, 400]]) {
      const bytes = await encoded(w, h, f, alpha);
      const meta = await sharp(bytes).metadata();
      // sharp's reading of the same file is the reference; the first HEADER_BYTES are what the API reads
      expect(imageSize(bytes.subarray(0, HEADER_BYTES))).toEqual({ width: meta.width, height: meta.pageHeight ?? meta.height });
    }
  });

  test('an LZW TIFF whose IFD comes after the image data: its size is read from the IFD on its own', async () => {
    const bytes = await encoded(1203, 977, (s) => s.tiff({ compression: 'lzw' }), false);
    const head = bytes.subarray(0, HEADER_BYTES);
    const ifd = tiffIfdOffset(head)!;
    expect(ifd).toBeGreaterThan(HEADER_BYTES);
    expect(imageSize(head)).toBeUndefined();
    expect(tiffIfdSize(head[0] === 0x49, bytes.subarray(ifd, ifd + HEADER_BYTES))).toEqual({ width: 1203, height: 977 });
  });

  test('a header cut short, or bytes that are no image, give nothing rather than a wrong size', async () => {
    const png = await encoded(10, 10, (s) => s.png());
    expect(imageSize(png.subarray(0, 20))).toBeUndefined();
    const jpeg = await encoded(10, 10, (s) => s.jpeg());
    expect(imageSize(jpeg.subarray(0, 30))).toBeUndefined();
    expect(imageSize(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBeUndefined();
    expect(imageSize(Buffer.from('{"not":"an image"}'))).toBeUndefined();
    expect(imageSize(new Uint8Array(0))).toBeUndefined();
  });
});
