/**
 * The JPEG frame header read without sharp: where it answers, libvips must agree; where it cannot
 * be sure, it must not answer, so that libvips is asked.
 */
import sharp from 'sharp';
import { cmykJpeg, jpegWithExif, noiseBytes, noisy, orientation6Jpeg, solid, TEAL } from './images';
import { validatePipelineConfig } from '../../lambda-src/config';
import { jpegExifOrientation, plainJpegFrame } from '../../lambda-src/jpeg-header';
import { ImageRejectedError, transformImage } from '../../lambda-src/transform';

const rgb = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: TEAL } });

/** Where the SOF0 segment of a JPEG starts (its 0xFF), found by walking the segments. */
function sofOffset(jpeg: Buffer): number {
  let i = 2;
  while (jpeg[i + 1] !== 0xc0) i += 2 + jpeg.readUInt16BE(i + 2);
  return i;
}

describe('plainJpegFrame agrees with libvips on baseline JPEGs', () => {
  const cases: [string, () => Promise<Buffer>][] = [
    ['colour, 4:2:0', () => rgb(640, 480).jpeg({ chromaSubsampling: '4:2:0' }).toBuffer()],
    ['colour, 4:4:4', () => rgb(333, 77).jpeg({ chromaSubsampling: '4:4:4' }).toBuffer()],
    ['one-channel grey', () => rgb(200, 300).toColourspace('b-w').jpeg().toBuffer()],
    ['1x1', () => rgb(1, 1).jpeg().toBuffer()],
    ['wider than 255 and 4095 pixels', () => rgb(4097, 3).jpeg().toBuffer()],
    ['stored sideways with EXIF orientation 6', () => orientation6Jpeg()],
    ['with EXIF, GPS and an ICC profile before the frame header', () => jpegWithExif()],
    ['photo-like noise', () => noisy(301, 203, 'jpeg')],
  ];
  test.each(cases)('%s', async (_name, make) => {
    const jpeg = await make();
    const meta = await sharp(jpeg).metadata();
    expect(meta.isProgressive).toBe(false);
    expect(plainJpegFrame(jpeg)).toEqual({ width: meta.width, height: meta.height, components: meta.channels });
  });
});

describe('plainJpegFrame leaves to libvips what is not a plain JPEG', () => {
  test.each([
    ['a progressive JPEG', () => rgb(64, 64).jpeg({ progressive: true }).toBuffer()],
    ['a CMYK JPEG (Adobe marker, four components)', () => cmykJpeg(64, 64, TEAL)],
    ['a PNG', () => solid(64, 64, TEAL, 'png')],
    ['a WebP', () => solid(64, 64, TEAL, 'webp')],
    ['text', async () => Buffer.from('<html>not a picture</html>')],
    ['an empty buffer', async () => Buffer.alloc(0)],
  ])('%s', async (_name, make) => {
    expect(plainJpegFrame(await make())).toBeUndefined();
  });

  test('a JPEG cut anywhere up to the end of its frame header: no answer, never a wrong one', async () => {
    const jpeg = await jpegWithExif();
    const meta = await sharp(jpeg).metadata();
    const sofEnd = sofOffset(jpeg) + 2 + jpeg.readUInt16BE(sofOffset(jpeg) + 2);
    for (let n = 0; n < sofEnd; n++) {
      expect(plainJpegFrame(jpeg.subarray(0, n))).toBeUndefined();
    }
    expect(plainJpegFrame(jpeg.subarray(0, sofEnd))).toEqual({ width: meta.width, height: meta.height, components: meta.channels });
  });

  test('a frame header declaring 0 lines (height given later by a DNL marker)', async () => {
    const jpeg = Buffer.from(await rgb(32, 32).jpeg().toBuffer());
    jpeg.writeUInt16BE(0, sofOffset(jpeg) + 5);
    expect(plainJpegFrame(jpeg)).toBeUndefined();
  });

  test('12-bit samples', async () => {
    const jpeg = Buffer.from(await rgb(32, 32).jpeg().toBuffer());
    jpeg[sofOffset(jpeg) + 4] = 12;
    expect(plainJpegFrame(jpeg)).toBeUndefined();
  });

  test('random bytes after a JPEG start marker: no answer and no exception', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const bytes = Buffer.concat([Buffer.from([0xff, 0xd8]), noiseBytes(64 + seed, seed)]);
      const frame = plainJpegFrame(bytes);
      if (frame !== undefined) {
        // only if the noise happens to hold a well-formed frame header
        expect(frame.width).toBeGreaterThan(0);
        expect(frame.height).toBeGreaterThan(0);
      }
    }
  });
});

describe('jpegExifOrientation agrees with libvips', () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])('orientation %d', async (orientation) => {
    const jpeg = await rgb(30, 20).withMetadata({ orientation }).jpeg().toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(orientation);
    expect(jpegExifOrientation(jpeg)).toBe(orientation);
  });

  test('none without EXIF, and none from EXIF without the tag', async () => {
    expect(jpegExifOrientation(await rgb(30, 20).jpeg().toBuffer())).toBeUndefined();
    expect(jpegExifOrientation(await jpegWithExif())).toBe((await sharp(await jpegWithExif()).metadata()).orientation);
  });

  test('big-endian EXIF (as many cameras write it)', async () => {
    const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 2 + 6 + tiff.length]), Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const plain = await rgb(30, 20).jpeg().toBuffer();
    const jpeg = Buffer.concat([plain.subarray(0, 2), app1, plain.subarray(2)]);
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    expect(jpegExifOrientation(jpeg)).toBe(6);
  });

  test('EXIF cut short or with a bogus offset: no answer, no exception', async () => {
    const jpeg = await orientation6Jpeg();
    for (let n = 0; n < 200; n++) expect([undefined, 6]).toContain(jpegExifOrientation(jpeg.subarray(0, n)));
  });
});

describe('the transform with the header read without sharp', () => {
  const policy = { ...validatePipelineConfig({ outputBucket: 'o' }) };

  test('a baseline JPEG whose frame header declares 50000x50000 is refused for its pixels, undecoded', async () => {
    const jpeg = Buffer.from(await rgb(32, 32).jpeg().toBuffer());
    jpeg.writeUInt16BE(50000, sofOffset(jpeg) + 5);
    jpeg.writeUInt16BE(50000, sofOffset(jpeg) + 7);
    const err = await transformImage(jpeg, policy).catch((e) => e);
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err.reason).toBe('too-many-pixels');
    expect(err.message).toContain('50000x50000');
  });

  test('JPEG not accepted: a baseline JPEG is refused as an unsupported format', async () => {
    const jpeg = await rgb(32, 32).jpeg().toBuffer();
    const err = await transformImage(jpeg, { ...policy, acceptedFormats: ['png'] }).catch((e) => e);
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err.reason).toBe('unsupported-format');
  });

  test('a baseline JPEG with its scan data cut off is refused as corrupt', async () => {
    const jpeg = await noisy(300, 200, 'jpeg');
    expect(plainJpegFrame(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)))).toBeDefined();
    const err = await transformImage(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), policy).catch((e) => e);
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err.reason).toBe('corrupt-image');
  });

  test('the output of a plain JPEG is the 256x256 one-channel JPEG, as through libvips\' header', async () => {
    const out = await transformImage(await noisy(300, 200, 'jpeg'), policy);
    expect(out.inputFormat).toBe('jpeg');
    expect([out.inputWidth, out.inputHeight]).toEqual([300, 200]);
    const meta = await sharp(out.outputs[0].body).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 256, 256, 1]);
  });
});
