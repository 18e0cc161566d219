import sharp from 'sharp';
import {
  animated, BLACK, BLUE, cmykJpeg, decode, GREEN, halfTransparentPng, halves, hex, jpegWithExif, mean, noiseBytes, noisy,
  orientation6Jpeg, png16, rawPattern, RED, regionMean, solid, srgbLuminance, strayBytesBeforeMarker, svg, TEAL, truncate,
  truncatedWithEnd, WHITE, type Rgb,
} from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import {
  BASELINE_MEMORY_MB, effectiveMaxBytes, failureKey, ImageRejectedError, INPUT_BYTES_HELD, memoryBudgetFor, outputSize, transformImage, variantKey,
  type RejectReason, type TransformPolicy, type VariantOutput,
} from '../../lambda-src/transform';
import { LIMITS } from '../../src/contract';

/** A validated config: the defaults plus `extra`. */
function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ outputBucket: 'out', ...extra });
}

/** Tolerance for lossy encoders (JPEG q80, WebP, AVIF) on flat colour. */
const LOSSY = 4;

function expectClose(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance);
}

function expectColour(actual: number[], expected: Rgb, tolerance: number): void {
  expectClose(actual[0], expected.r, tolerance);
  expectClose(actual[1], expected.g, tolerance);
  expectClose(actual[2], expected.b, tolerance);
}

async function rejection(input: Buffer, cfg: TransformPolicy = config()): Promise<ImageRejectedError> {
  try {
    await transformImage(input, cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(ImageRejectedError);
    return e as ImageRejectedError;
  }
  throw new Error('the image was not rejected');
}

function only(outputs: VariantOutput[]): VariantOutput {
  expect(outputs).toHaveLength(1);
  return outputs[0];
}

/** The luminance of a solid colour, as the decoded default variant must show it. */
async function expectDefaultVariant(input: Buffer, colour: Rgb): Promise<void> {
  // WHEN
  const result = await transformImage(input, config());

  // THEN: the original system's output, independently decoded.
  const out = only(result.outputs);
  const d = await decode(out.body);
  expect(d).toMatchObject({ format: 'jpeg', width: 256, height: 256, channels: 1 });
  expect(out).toMatchObject({ variant: 'grayscale-256', format: 'jpeg', extension: 'jpg', contentType: 'image/jpeg', width: 256, height: 256, channels: 1 });
  const [luma] = await mean(out.body);
  expectClose(luma, srgbLuminance(colour), LOSSY);
}

describe('the default variant (the original system: 256x256 grayscale JPEG)', () => {
  test.each([
    ['JPEG', 'jpeg'],
    ['PNG', 'png'],
    ['WebP', 'webp'],
    ['TIFF', 'tiff'],
    ['AVIF', 'avif'],
  ] as const)('from a %s input', async (_name, format) => {
    // GIVEN
    const input = await solid(90, 60, TEAL, format);

    // WHEN / THEN
    await expectDefaultVariant(input, TEAL);
  });

  test('from a static GIF input', async () => {
    // GIVEN: a colour a GIF palette holds exactly.
    const input = await solid(90, 60, BLUE, 'gif');
    expect((await decode(input)).format).toBe('gif');

    // WHEN / THEN
    await expectDefaultVariant(input, BLUE);
  });

  test.each([
    ['red', RED],
    ['green', GREEN],
    ['blue', BLUE],
    ['teal', TEAL],
  ])('the grey of saturated %s is its luminance (computed in linear light)', async (_name, colour) => {
    // GIVEN
    const input = await solid(40, 30, colour, 'png');

    // WHEN / THEN
    await expectDefaultVariant(input, colour);
  });

  test('stretches to fill 256x256: each half of a two-colour input stays a half', async () => {
    // GIVEN: 300x100, left white, right black; fill means no crop and no letterbox.
    const input = await halves(300, 100, WHITE, BLACK, 'png');

    // WHEN
    const out = only((await transformImage(input, config())).outputs);

    // THEN
    const [left] = await regionMean(out.body, 8, 8, 110, 240);
    const [right] = await regionMean(out.body, 138, 8, 110, 240);
    expectClose(left, 255, LOSSY);
    expectClose(right, 0, LOSSY);
  });

  test('from a CMYK JPEG: converted to the colour the CMYK encodes', async () => {
    // GIVEN: a CMYK JPEG whose RGB rendering sharp knows (its own independent decode of the input).
    const input = await cmykJpeg(64, 48, TEAL);
    const inMeta = await sharp(input).metadata();
    expect(inMeta.space).toBe('cmyk');
    const [r, g, b] = await mean(await sharp(input).png().toBuffer());

    // WHEN / THEN
    await expectDefaultVariant(input, { r: Math.round(r), g: Math.round(g), b: Math.round(b) });
  });

  test('from a 16-bit PNG', async () => {
    // GIVEN
    const input = await png16(40, 30, TEAL);
    expect((await decode(input)).depth).toBe('ushort');

    // WHEN / THEN
    await expectDefaultVariant(input, TEAL);
  });
});

describe('input formats through a colour variant', () => {
  const keepColour = config({ variants: [{ name: 'copy', format: 'png' }] });

  test('a 16-bit PNG becomes an 8-bit PNG of the same colour', async () => {
    // GIVEN
    const input = await png16(40, 30, TEAL);

    // WHEN
    const out = only((await transformImage(input, keepColour)).outputs);

    // THEN
    const d = await decode(out.body);
    expect(d).toMatchObject({ format: 'png', width: 40, height: 30, depth: 'uchar' });
    expectColour(await mean(out.body), TEAL, 1);
  });

  test('a CMYK JPEG becomes an sRGB image, not four channels', async () => {
    // GIVEN
    const input = await cmykJpeg(64, 48, RED);
    const expected = await mean(await sharp(input).png().toBuffer());

    // WHEN
    const out = only((await transformImage(input, keepColour)).outputs);

    // THEN
    const d = await decode(out.body);
    expect(d).toMatchObject({ format: 'png', width: 64, height: 48, channels: 3 });
    const actual = await mean(out.body);
    expectColour(actual, { r: expected[0], g: expected[1], b: expected[2] }, 2);
    // Red stays red: far from what reading C, M, Y as R, G, B would give.
    expect(actual[0]).toBeGreaterThan(150);
    expect(actual[1]).toBeLessThan(80);
  });

  test.each(['gif', 'webp'] as const)('an animated %s: the first frame only', async (format) => {
    // GIVEN: frame 1 red, frame 2 blue, frame 3 green.
    const input = await animated(32, 20, [RED, BLUE, GREEN], format);
    const inMeta = await sharp(input).metadata();
    expect(inMeta.pages).toBe(3);

    // WHEN
    const result = await transformImage(input, config({ variants: [{ name: 'copy', format: 'original' }] }));

    // THEN: one frame, 32x20, red.
    expect(result).toMatchObject({ inputFormat: format, inputWidth: 32, inputHeight: 20 });
    const out = only(result.outputs);
    const d = await decode(out.body);
    expect(d).toMatchObject({ format, width: 32, height: 20, pages: 1 });
    expectColour(await mean(out.body), RED, 2);
  });

  test('an animated GIF through the default variant is the first frame, 256x256', async () => {
    // GIVEN: frame 1 white, frame 2 black.
    const input = await animated(32, 20, [WHITE, BLACK], 'gif');

    // WHEN / THEN
    await expectDefaultVariant(input, WHITE);
  });

  test.each([
    ['jpeg', 'jpg', 'image/jpeg'],
    ['png', 'png', 'image/png'],
    ['webp', 'webp', 'image/webp'],
    ['gif', 'gif', 'image/gif'],
    ['tiff', 'tif', 'image/tiff'],
    ['avif', 'avif', 'image/avif'],
  ] as const)('format "original" re-encodes a %s input as %s', async (format, extension, contentType) => {
    // GIVEN
    const input = await solid(30, 20, BLUE, format);

    // WHEN
    const result = await transformImage(input, config({ variants: [{ name: 'same', format: 'original' }] }));

    // THEN
    const out = only(result.outputs);
    expect(result.inputFormat).toBe(format);
    expect(out).toMatchObject({ extension, contentType });
    const d = await decode(out.body);
    expect(d.format).toBe(format === 'avif' ? 'heif' : format);
    expect([d.width, d.height]).toEqual([30, 20]);
    expectColour(await mean(out.body), BLUE, format === 'avif' ? 8 : LOSSY);
  });
});

describe('EXIF orientation', () => {
  test('the test input really is stored sideways with orientation 6', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // THEN: stored 300x200 (white top-left), tagged "rotate 90° clockwise".
    const m = await sharp(input).metadata();
    expect([m.width, m.height, m.orientation]).toEqual([300, 200, 6]);
    const [storedTopLeft] = await regionMean(input, 10, 10, 130, 80);
    expect(storedTopLeft).toBeGreaterThan(240);
  });

  test('is applied: without resize the output is 200x300 with the white quadrant top-right', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'upright', format: 'png', grayscale: true }] }))).outputs);

    // THEN: rotating 90° clockwise moves the stored top-left corner to the top-right.
    const d = await decode(out.body);
    expect([d.width, d.height]).toEqual([200, 300]);
    expect(d.exif === undefined || (await sharp(out.body).metadata()).orientation === 1).toBe(true);
    const [topRight] = await regionMean(out.body, 110, 10, 80, 130);
    const [topLeft] = await regionMean(out.body, 10, 10, 80, 130);
    const [bottomRight] = await regionMean(out.body, 110, 160, 80, 130);
    expect(topRight).toBeGreaterThan(240);
    expect(topLeft).toBeLessThan(15);
    expect(bottomRight).toBeLessThan(15);
  });

  test('is applied with fit inside: a 100x100 box gets a 67x100 portrait', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'box', width: 100, height: 100, fit: 'inside', format: 'png' }] }))).outputs);

    // THEN
    const d = await decode(out.body);
    expect(d.height).toBe(100);
    expectClose(d.width, 67, 1);
    const [topRight] = await regionMean(out.body, 40, 5, 20, 40);
    const [bottomLeft] = await regionMean(out.body, 5, 60, 20, 35);
    expect(topRight).toBeGreaterThan(230);
    expect(bottomLeft).toBeLessThan(25);
  });

  test('is applied before the default variant stretches to 256x256', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // WHEN
    const out = only((await transformImage(input, config())).outputs);

    // THEN: the white quarter is the top-right one.
    const [topRight] = await regionMean(out.body, 136, 8, 112, 112);
    const [topLeft] = await regionMean(out.body, 8, 8, 112, 112);
    const [bottomRight] = await regionMean(out.body, 136, 136, 112, 112);
    expect(topRight).toBeGreaterThan(240);
    expect(topLeft).toBeLessThan(15);
    expect(bottomRight).toBeLessThan(15);
  });

  test('is applied when several variants share one decode', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'full', format: 'png', grayscale: true },
        { name: 'half', width: 100, format: 'png', grayscale: true, fit: 'inside' },
      ],
    }));

    // THEN
    const [full, half] = result.outputs;
    expect([full.width, full.height]).toEqual([200, 300]);
    expect([half.width, half.height]).toEqual([100, 150]);
    const [fullTopRight] = await regionMean(full.body, 110, 10, 80, 130);
    const [halfTopRight] = await regionMean(half.body, 55, 5, 40, 65);
    const [halfTopLeft] = await regionMean(half.body, 5, 5, 40, 65);
    expect(fullTopRight).toBeGreaterThan(240);
    expect(halfTopRight).toBeGreaterThan(240);
    expect(halfTopLeft).toBeLessThan(15);
  });
});

describe('transparency', () => {
  test('a JPEG output is flattened on the variant background: transparent pixels become the background grey', async () => {
    // GIVEN: left half transparent (hiding red), right half opaque blue.
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN: grayscale JPEG on a green background.
    const out = only((await transformImage(input, config({
      variants: [{ name: 'g', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'jpeg', background: hex(GREEN) }],
    }))).outputs);

    // THEN
    const d = await decode(out.body);
    expect(d).toMatchObject({ format: 'jpeg', channels: 1, hasAlpha: false });
    const [left] = await regionMean(out.body, 4, 4, 24, 56);
    const [right] = await regionMean(out.body, 36, 4, 24, 56);
    expectClose(left, srgbLuminance(GREEN), LOSSY);
    expectClose(right, srgbLuminance(BLUE), LOSSY);
  });

  test('the default variant flattens transparency on white', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, BLACK, BLACK);

    // WHEN
    const out = only((await transformImage(input, config())).outputs);

    // THEN: left (transparent) white, right (opaque) black.
    const [left] = await regionMean(out.body, 8, 8, 110, 240);
    const [right] = await regionMean(out.body, 138, 8, 110, 240);
    expectClose(left, 255, LOSSY);
    expectClose(right, 0, LOSSY);
  });

  test('a colour JPEG output is flattened on the background colour', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'c', format: 'jpeg', background: hex(GREEN) }] }))).outputs);

    // THEN
    expectColour(await regionMean(out.body, 4, 4, 24, 56), GREEN, LOSSY);
    expectColour(await regionMean(out.body, 36, 4, 24, 56), BLUE, LOSSY);
  });

  test('a PNG output keeps the alpha channel', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'p', format: 'png', grayscale: true }] }))).outputs);

    // THEN: grey + alpha; transparent left, opaque right.
    const d = await decode(out.body);
    expect(d).toMatchObject({ channels: 2, hasAlpha: true });
    expect((await regionMean(out.body, 4, 4, 24, 56)).at(-1)).toBe(0);
    expect((await regionMean(out.body, 36, 4, 24, 56)).at(-1)).toBe(255);
  });

  // Several variants share one decode. When every variant is grayscale the shared decode drops
  // the alpha channel, so the transparent half shows its hidden colour. See the report.
  test('with several all-grayscale variants, a JPEG variant is still flattened on its background', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'j', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'jpeg', background: hex(GREEN) },
        { name: 'p', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'png' },
      ],
    }));

    // THEN
    const [j] = await regionMean(result.outputs[0].body, 4, 4, 24, 56);
    expectClose(j, srgbLuminance(GREEN), LOSSY);
  });

  test('with several all-grayscale variants, a PNG variant keeps its transparency', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'j', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'jpeg' },
        { name: 'p', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'png' },
      ],
    }));

    // THEN
    const d = await decode(result.outputs[1].body);
    expect(d.hasAlpha).toBe(true);
  });

  test('with several variants, not all grayscale, JPEG is flattened and PNG keeps alpha', async () => {
    // GIVEN
    const input = await halfTransparentPng(64, 64, RED, BLUE);

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'j', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'jpeg', background: hex(GREEN) },
        { name: 'p', width: 64, height: 64, fit: 'fill', format: 'png' },
      ],
    }));

    // THEN
    const [j, p] = result.outputs;
    const [jLeft] = await regionMean(j.body, 4, 4, 24, 56);
    expectClose(jLeft, srgbLuminance(GREEN), LOSSY);
    expect((await decode(p.body)).hasAlpha).toBe(true);
    expect((await regionMean(p.body, 4, 4, 24, 56)).at(-1)).toBe(0);
    expectColour(await regionMean(p.body, 36, 4, 24, 56), BLUE, 0);
  });
});

describe('several variants from one upload', () => {
  test('a 64x64 grayscale PNG, a 1024-wide colour WebP and an original-format copy', async () => {
    // GIVEN: a 300x200 JPEG, left half red, right half blue.
    const input = await halves(300, 200, RED, BLUE, 'jpeg');

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'thumb', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'png' },
        { name: 'wide', width: 1024, fit: 'inside', format: 'webp' },
        { name: 'copy', format: 'original' },
      ],
    }));

    // THEN
    expect(result).toMatchObject({ inputFormat: 'jpeg', inputWidth: 300, inputHeight: 200 });
    expect(result.outputs.map((o) => o.variant)).toEqual(['thumb', 'wide', 'copy']);
    const [thumb, wide, copy] = result.outputs;

    expect(await decode(thumb.body)).toMatchObject({ format: 'png', width: 64, height: 64, channels: 1 });
    expect(thumb).toMatchObject({ extension: 'png', contentType: 'image/png' });
    expectClose((await regionMean(thumb.body, 2, 2, 28, 60))[0], srgbLuminance(RED), LOSSY);
    expectClose((await regionMean(thumb.body, 34, 2, 28, 60))[0], srgbLuminance(BLUE), LOSSY);

    // 300x200 scaled to 1024 wide keeps the 3:2 ratio.
    const w = await decode(wide.body);
    expect(w).toMatchObject({ format: 'webp', width: 1024, channels: 3 });
    expectClose(w.height, 683, 1);
    expect(wide).toMatchObject({ extension: 'webp', contentType: 'image/webp' });
    expectColour(await regionMean(wide.body, 20, 20, 460, 640), RED, 6);
    expectColour(await regionMean(wide.body, 544, 20, 460, 640), BLUE, 6);

    expect(await decode(copy.body)).toMatchObject({ format: 'jpeg', width: 300, height: 200, channels: 3 });
    expect(copy).toMatchObject({ extension: 'jpg', contentType: 'image/jpeg' });
    expectColour(await regionMean(copy.body, 10, 10, 130, 180), RED, 6);
    expectColour(await regionMean(copy.body, 160, 10, 130, 180), BLUE, 6);
  });

  test('each output reports the size and channels its encoding really has', async () => {
    // GIVEN
    const input = await solid(120, 80, TEAL, 'png');

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'a', width: 30, height: 30, fit: 'cover', grayscale: true, format: 'jpeg' },
        { name: 'b', width: 60, fit: 'inside', format: 'png' },
        { name: 'c', height: 20, fit: 'inside', format: 'avif' },
      ],
    }));

    // THEN
    for (const out of result.outputs) {
      const d = await decode(out.body);
      expect([out.width, out.height]).toEqual([d.width, d.height]);
    }
    expect(result.outputs.map((o) => [o.width, o.height])).toEqual([[30, 30], [60, 40], [30, 20]]);
    expect((await decode(result.outputs[0].body)).channels).toBe(1);
  });

  test('a large input shrunk for several variants keeps each variant sharp enough and right-sized', async () => {
    // GIVEN: 1200x800, left white, right black.
    const input = await halves(1200, 800, WHITE, BLACK, 'png');

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'small', width: 64, height: 64, fit: 'fill', grayscale: true, format: 'png' },
        { name: 'medium', width: 600, height: 400, fit: 'cover', grayscale: true, format: 'png' },
      ],
    }));

    // THEN: the white/black edge sits in the middle column of each.
    const [small, medium] = result.outputs;
    expect([small.width, small.height, medium.width, medium.height]).toEqual([64, 64, 600, 400]);
    expect((await regionMean(medium.body, 0, 0, 298, 400))[0]).toBeGreaterThan(250);
    expect((await regionMean(medium.body, 302, 0, 298, 400))[0]).toBeLessThan(5);
    expect((await regionMean(small.body, 0, 0, 31, 64))[0]).toBeGreaterThan(250);
    expect((await regionMean(small.body, 33, 0, 31, 64))[0]).toBeLessThan(5);
  });
});

describe('resizing options', () => {
  test('withoutEnlargement keeps a small input at its size', async () => {
    // GIVEN
    const input = await solid(100, 50, TEAL, 'png');

    // WHEN
    const result = await transformImage(input, config({
      variants: [
        { name: 'kept', width: 400, fit: 'inside', format: 'png', withoutEnlargement: true },
        { name: 'enlarged', width: 400, fit: 'inside', format: 'png' },
      ],
    }));

    // THEN
    const [kept, enlarged] = await Promise.all(result.outputs.map((o) => decode(o.body)));
    expect([kept.width, kept.height]).toEqual([100, 50]);
    expect([enlarged.width, enlarged.height]).toEqual([400, 200]);
  });

  test('withoutEnlargement alone (one variant)', async () => {
    // GIVEN
    const input = await solid(100, 50, TEAL, 'png');

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'kept', width: 400, height: 400, fit: 'inside', format: 'png', withoutEnlargement: true }] }))).outputs);

    // THEN
    const d = await decode(out.body);
    expect([d.width, d.height]).toEqual([100, 50]);
  });

  test('contain letterboxes with the background colour', async () => {
    // GIVEN: a 100x50 red input into a 64x64 box on blue.
    const input = await solid(100, 50, RED, 'png');

    // WHEN
    const out = only((await transformImage(input, config({
      variants: [{ name: 'box', width: 64, height: 64, fit: 'contain', format: 'png', background: hex(BLUE) }],
    }))).outputs);

    // THEN: 64x32 of red centred, 16 rows of blue above and below.
    const d = await decode(out.body);
    expect([d.width, d.height]).toEqual([64, 64]);
    expectColour(await regionMean(out.body, 0, 0, 64, 14), BLUE, 0);
    expectColour(await regionMean(out.body, 0, 50, 64, 14), BLUE, 0);
    expectColour(await regionMean(out.body, 0, 18, 64, 28), RED, 0);
  });

  test('cover crops to the box, keeping the centre', async () => {
    // GIVEN: 300x100, left third blue, middle third red, right third blue.
    const striped = await rawPattern(300, 100, (x) => (x >= 100 && x < 200 ? RED : BLUE)).png().toBuffer();

    // WHEN
    const out = only((await transformImage(striped, config({ variants: [{ name: 'sq', width: 50, height: 50, fit: 'cover', format: 'png' }] }))).outputs);

    // THEN: the square is the red middle (its edge columns take a little blue through the resize kernel).
    const d = await decode(out.body);
    expect([d.width, d.height]).toEqual([50, 50]);
    expectColour(await mean(out.body), RED, 2);
  });
});

describe('metadata', () => {
  test('the test input carries EXIF, with a GPS IFD', async () => {
    const exif = (await decode(await jpegWithExif())).exif;
    expect(exif?.toString('latin1')).toContain('AcmeCam');
    // IFD0 tag 0x8825 (GPSInfo) points at the GPS IFD; the EXIF is little-endian ("II").
    expect(exif?.includes(Buffer.from([0x25, 0x88]))).toBe(true);
  });

  test('is stripped by default', async () => {
    // GIVEN
    const input = await jpegWithExif();

    // WHEN
    const out = only((await transformImage(input, config({ variants: [{ name: 'c', format: 'jpeg' }] }))).outputs);

    // THEN
    const d = await decode(out.body);
    expect(d.exif).toBeUndefined();
    expect(out.body.toString('latin1')).not.toContain('AcmeCam');
  });

  test('is stripped from the default variant', async () => {
    // GIVEN
    const input = await jpegWithExif();

    // WHEN
    const out = only((await transformImage(input, config())).outputs);

    // THEN
    expect((await decode(out.body)).exif).toBeUndefined();
    expect(out.body.toString('latin1')).not.toContain('AcmeCam');
  });

  test('is kept with keepMetadata', async () => {
    // GIVEN
    const input = await jpegWithExif();

    // WHEN
    const out = only((await transformImage(input, config({ keepMetadata: true, variants: [{ name: 'c', format: 'jpeg' }] }))).outputs);

    // THEN
    const exif = (await decode(out.body)).exif;
    expect(exif).toBeDefined();
    expect(exif?.toString('latin1')).toContain('AcmeCam');
  });

  test('keepMetadata with an EXIF-rotated input resets the orientation tag (no double rotation)', async () => {
    // GIVEN
    const input = await orientation6Jpeg();

    // WHEN
    const out = only((await transformImage(input, config({ keepMetadata: true, variants: [{ name: 'c', format: 'jpeg' }] }))).outputs);

    // THEN: pixels upright, and the tag no longer asks for a rotation.
    const m = await sharp(out.body).metadata();
    expect([m.width, m.height]).toEqual([200, 300]);
    expect(m.orientation ?? 1).toBe(1);
  });

  test('is kept with keepMetadata when there are several variants', async () => {
    // GIVEN
    const input = await jpegWithExif();

    // WHEN
    const result = await transformImage(input, config({
      keepMetadata: true,
      variants: [{ name: 'a', format: 'jpeg' }, { name: 'b', width: 20, format: 'jpeg' }],
    }));

    // THEN
    for (const out of result.outputs) {
      expect((await decode(out.body)).exif?.toString('latin1')).toContain('AcmeCam');
    }
  });
});

describe('rejections', () => {
  async function expectRejected(input: Buffer, reason: RejectReason, cfg?: PipelineConfig): Promise<void> {
    const e = await rejection(input, cfg);
    expect(e.reason).toBe(reason);
    expect(e.message.length).toBeGreaterThan(0);
  }

  test('fails when the object is empty', async () => {
    await expectRejected(Buffer.alloc(0), 'empty-object');
  });

  test('fails when the object has more bytes than maxInputBytes, before decoding', async () => {
    // GIVEN: a valid image one byte over the limit.
    const input = await solid(40, 30, TEAL, 'png');

    // THEN
    await expectRejected(input, 'too-many-bytes', config({ maxInputBytes: input.length - 1 }));
    await expect(transformImage(input, config({ maxInputBytes: input.length }))).resolves.toBeDefined();
  });

  test('too-many-bytes is decided on size alone, even for garbage', async () => {
    await expectRejected(noiseBytes(2048), 'too-many-bytes', config({ maxInputBytes: 1024 }));
  });

  test.each([
    ['random bytes', noiseBytes(4096)],
    ['plain text', Buffer.from('hello, this is not a picture\n'.repeat(20))],
    ['an HTML page', Buffer.from('<!DOCTYPE html>\n<html><head><title>photo.jpg</title></head><body><p>Not found</p></body></html>\n')],
    ['a JSON document', Buffer.from(JSON.stringify({ image: 'photo.jpg', width: 300 }))],
    ['a PDF header', Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n', 'latin1')],
    ['an HTML page with an inline SVG', Buffer.from('<html><body><svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg></body></html>')],
  ])('fails when the object is %s', async (_what, input) => {
    await expectRejected(input, 'unsupported-format');
  });

  test.each([
    ['JPEG', 'jpeg', 0.5],
    ['JPEG', 'jpeg', 0.95],
    ['PNG', 'png', 0.5],
    ['PNG', 'png', 0.95],
  ] as const)('fails when a %s is truncated (%s of it)', async (_name, format, fraction) => {
    // GIVEN
    const whole = await noisy(200, 150, format);
    await expect(transformImage(whole, config())).resolves.toBeDefined();

    // THEN
    await expectRejected(truncate(whole, fraction), 'corrupt-image');
  });

  test('fails when a JPEG is cut to 30% and an end marker appended, which libjpeg only warns about', async () => {
    // GIVEN: photo-like, so the lost 70% would decode as a flat grey block
    const whole = await noisy(800, 600, 'jpeg');
    const cut = truncatedWithEnd(whole, 0.3);
    // libjpeg (failing on errors only) decodes it without complaint, filling the rest grey
    await expect(sharp(cut, { failOn: 'error' }).raw().toBuffer()).resolves.toBeDefined();

    // THEN: through one variant and through several sharing one decode
    await expectRejected(cut, 'corrupt-image');
    await expectRejected(cut, 'corrupt-image', config({ variants: [{ name: 'a', width: 64 }, { name: 'b', width: 128, format: 'png' }] }));
  });

  test('stray bytes between segments, which libjpeg only warns about, do not stop a camera JPEG', async () => {
    // GIVEN: a valid image that sharp's default (failOn: 'warning') refuses
    const clean = await noisy(400, 300, 'jpeg');
    const odd = strayBytesBeforeMarker(clean);
    await expect(sharp(odd).raw().toBuffer()).rejects.toThrow(/extraneous bytes before marker/);

    // WHEN
    const [fromOdd, fromClean] = await Promise.all([transformImage(odd, config()), transformImage(clean, config())]);

    // THEN: the same output as the clean file's
    expect(only(fromOdd.outputs).body.equals(only(fromClean.outputs).body)).toBe(true);
  });

  test('fails when a JPEG is only its first bytes (header cut)', async () => {
    const whole = await noisy(200, 150, 'jpeg');
    const e = await rejection(truncate(whole, 0.01));
    expect(['corrupt-image', 'unsupported-format']).toContain(e.reason);
  });

  test('fails when the image has more pixels than maxInputPixels (5000x5000 with a limit of 1e6)', async () => {
    // GIVEN: a cheap 25 MP PNG (one colour compresses to almost nothing).
    const input = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: hex(BLACK) } }).png({ compressionLevel: 1 }).toBuffer();

    // THEN
    const e = await rejection(input, config({ maxInputPixels: 1_000_000 }));
    expect(e.reason).toBe('too-many-pixels');
    expect(e.message).toContain('5000');
  });

  test('an image of exactly maxInputPixels is accepted, one more pixel is not', async () => {
    // GIVEN
    const input = await solid(50, 20, TEAL, 'png');

    // THEN
    await expect(transformImage(input, config({ maxInputPixels: 1000 }))).resolves.toBeDefined();
    await expectRejected(input, 'too-many-pixels', config({ maxInputPixels: 999 }));
  });

  test('counts the first frame of an animated GIF, not all frames', async () => {
    // GIVEN: 3 frames of 40x25 (1000 pixels each).
    const input = await animated(40, 25, [RED, GREEN, BLUE], 'gif');

    // THEN
    await expect(transformImage(input, config({ maxInputPixels: 1000 }))).resolves.toBeDefined();
  });

  test('SVG is refused by default', async () => {
    await expectRejected(svg(30, 20, RED), 'unsupported-format');
  });

  test('SVG is rendered when accepted, and "original" becomes PNG', async () => {
    // WHEN
    const result = await transformImage(svg(30, 20, RED), config({
      acceptedFormats: ['svg'],
      variants: [{ name: 'copy', format: 'original' }, { name: 'g', width: 60, height: 40, fit: 'fill', grayscale: true, format: 'jpeg' }],
    }));

    // THEN
    expect(result.inputFormat).toBe('svg');
    const [copy, g] = result.outputs;
    expect(await decode(copy.body)).toMatchObject({ format: 'png', width: 30, height: 20 });
    expect(copy).toMatchObject({ extension: 'png', contentType: 'image/png' });
    expectColour(await mean(copy.body), RED, 1);
    expect(await decode(g.body)).toMatchObject({ format: 'jpeg', width: 60, height: 40, channels: 1 });
    expectClose((await mean(g.body))[0], srgbLuminance(RED), LOSSY);
  });

  test('a format that is readable but not accepted is refused', async () => {
    // GIVEN
    const input = await solid(30, 20, TEAL, 'webp');

    // THEN
    const e = await rejection(input, config({ acceptedFormats: ['jpeg', 'png'] }));
    expect(e.reason).toBe('unsupported-format');
    expect(e.message).toMatch(/webp/);
  });

  test('AVIF is refused when not in acceptedFormats', async () => {
    // GIVEN
    const input = await solid(30, 20, TEAL, 'avif');

    // THEN
    await expectRejected(input, 'unsupported-format', config({ acceptedFormats: ['jpeg'] }));
  });
});

describe('variantKey and failureKey', () => {
  const layout = { inputPrefix: 'uploads/', outputPrefix: 'processed/' };

  test.each([
    ['uploads/photo.jpg', 'processed/v/photo.png'],
    ['uploads/a/b.c/photo', 'processed/v/a/b.c/photo.png'],
    ['uploads/a/b.c/photo.jpeg', 'processed/v/a/b.c/photo.png'],
    ['uploads/x.tar.jpg', 'processed/v/x.tar.png'],
    ['uploads/.hidden', 'processed/v/.hidden.png'],
    ['uploads/dir/.hidden', 'processed/v/dir/.hidden.png'],
    ['uploads/my photo é 猫.JPG', 'processed/v/my photo é 猫.png'],
    ['uploads/deep/er/path/img.webp', 'processed/v/deep/er/path/img.png'],
  ])('variantKey of %j is %j', (input, expected) => {
    expect(variantKey(layout, input, 'v', 'png')).toBe(expected);
  });

  test('variantKey with empty prefixes', () => {
    expect(variantKey({ inputPrefix: '', outputPrefix: '' }, 'a/b.jpg', 'grayscale-256', 'jpg')).toBe('grayscale-256/a/b.jpg');
  });

  test.each([
    ['uploads/photo.jpg', 'processed/_failed/photo.jpg.json'],
    ['uploads/a/b c/é.png', 'processed/_failed/a/b c/é.png.json'],
    ['uploads/.hidden', 'processed/_failed/.hidden.json'],
  ])('failureKey of %j is %j', (input, expected) => {
    expect(failureKey(layout, input)).toBe(expected);
  });

  test('variant and failure keys of one input never collide', () => {
    const v = variantKey(layout, 'uploads/_failed/x.json', '_failed', 'json');
    const f = failureKey(layout, 'uploads/x');
    expect(f).toBe('processed/_failed/x.json');
    // A variant named "_failed" is impossible: names start with a letter or digit.
    expect(() => validatePipelineConfig({ outputBucket: 'o', variants: [{ name: '_failed' }] })).toThrow(/name/);
    expect(v).not.toBe(f);
  });
});

describe('the memory budget of one image', () => {
  const MiB = 1024 * 1024;
  // 2000x1500 (3 MP) with fine texture, so the encoded bytes stay small but real.
  const make = (opts: { jpeg?: sharp.JpegOptions; png?: sharp.PngOptions }) => {
    const img = sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 10 } } });
    return opts.jpeg ? img.jpeg(opts.jpeg).toBuffer() : img.png(opts.png).toBuffer();
  };

  test('fails when a progressive JPEG needs more than the budget to decode whole, while the baseline one of the same size fits', async () => {
    // GIVEN: a progressive 4:2:0 JPEG keeps 1.5 coefficients of 2 bytes per pixel: 3 MP x 3 B = 9 MB
    const progressive = await make({ jpeg: { progressive: true, quality: 80 } });
    const baseline = await make({ jpeg: { quality: 80 } });
    const policy = { ...config(), memoryBudgetBytes: 8 * MiB };

    // THEN
    const e = await rejection(progressive, policy);
    expect(e.reason).toBe('too-many-pixels');
    expect(e.message).toMatch(/progressive JPEG/);
    await expect(transformImage(baseline, policy)).resolves.toBeDefined();
    await expect(transformImage(progressive, { ...policy, memoryBudgetBytes: 16 * MiB })).resolves.toBeDefined();
  });

  test('fails when an interlaced PNG needs more than the budget, while the non-interlaced one fits', async () => {
    // GIVEN: interlaced RGB, 3 MP x 3 B = 9 MB decoded at once
    const gradient = Buffer.alloc(2000 * 1500 * 3);
    for (let i = 0; i < gradient.length; i++) gradient[i] = Math.floor(i / 16) % 251;
    const png = (progressive: boolean) => sharp(gradient, { raw: { width: 2000, height: 1500, channels: 3 } }).png({ progressive }).toBuffer();
    const interlaced = await png(true);
    const plain = await png(false);
    // room for the bytes (as many times over as the handler holds them) but not for them and the whole decode
    const budget = INPUT_BYTES_HELD * Math.max(interlaced.length, plain.length);
    expect(budget).toBeLessThan(INPUT_BYTES_HELD * interlaced.length + 9 * MiB);

    // THEN
    const e = await rejection(interlaced, { ...config(), memoryBudgetBytes: budget });
    expect(e.reason).toBe('too-many-pixels');
    expect(e.message).toMatch(/interlaced PNG/);
    await expect(transformImage(plain, { ...config(), memoryBudgetBytes: budget })).resolves.toBeDefined();
  });

  test('the budget leaves out the measured baseline: at least the 91 MiB a 128 MB Lambda function uses before its first image', () => {
    expect(BASELINE_MEMORY_MB).toBeGreaterThanOrEqual(91);
    expect(memoryBudgetFor(128)).toBe((128 - BASELINE_MEMORY_MB) * MiB);
    expect(memoryBudgetFor(512)).toBe((512 - BASELINE_MEMORY_MB) * MiB);
  });

  test('at 128 MB, an 18 MB object (a 24 MP JPEG that peaked at 128 MiB there) is refused before it is read', async () => {
    const policy = { ...config(), memoryBudgetBytes: memoryBudgetFor(128) };
    expect(effectiveMaxBytes(policy)).toBeLessThan(18_000_000);
    expect((await rejection(noiseBytes(18_000_000), policy)).reason).toBe('too-many-bytes');
  });

  test('at 128 MB, a 12 MP progressive JPEG (36 MB of coefficients at once) is refused undecoded; at 256 MB it is processed', async () => {
    // GIVEN: flat, so its bytes are few and only the decode counts
    const input = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080' } }).jpeg({ progressive: true }).toBuffer();

    // THEN
    const e = await rejection(input, { ...config(), memoryBudgetBytes: memoryBudgetFor(128) });
    expect(e.reason).toBe('too-many-pixels');
    expect(e.message).toMatch(/progressive JPEG/);
    await expect(transformImage(input, { ...config(), memoryBudgetBytes: memoryBudgetFor(256) })).resolves.toBeDefined();
  });

  test.each([
    // measured: a 9.6 MP AVIF was killed at 128 MB (libheif with libaom holds about 20 bytes a pixel)
    ['a 1.6 MP AVIF', () => sharp({ create: { width: 1600, height: 1000, channels: 3, background: '#808080' } }).avif({ effort: 0 }).toBuffer()],
    // libnsgif's frame and libvips' copy: about 7 bytes a pixel
    ['a 5 MP GIF', () => sharp({ create: { width: 2500, height: 2000, channels: 3, background: '#808080' } }).gif().toBuffer()],
    // lossless WebP is decoded whole, 4 bytes a pixel, before it is scaled
    ['a 7.5 MP lossless WebP', () => sharp({ create: { width: 3000, height: 2500, channels: 3, background: '#808080' } }).webp({ lossless: true }).toBuffer()],
  ])('at 128 MB, %s is refused undecoded for the memory its decode needs; at 256 MB it is processed', async (_what, encode) => {
    const input = await encode();
    const e = await rejection(input, { ...config(), memoryBudgetBytes: memoryBudgetFor(128) });
    expect(e.reason).toBe('too-many-pixels');
    await expect(transformImage(input, { ...config(), memoryBudgetBytes: memoryBudgetFor(256) })).resolves.toBeDefined();
  });

  test('a lossy WebP is decoded as it is scaled: the same 7.5 MP is processed at 128 MB', async () => {
    const input = await sharp({ create: { width: 3000, height: 2500, channels: 3, background: '#808080' } }).webp().toBuffer();
    await expect(transformImage(input, { ...config(), memoryBudgetBytes: memoryBudgetFor(128) })).resolves.toBeDefined();
  });

  test('fails when the object is more than a INPUT_BYTES_HELD-th of the budget, whatever maxInputBytes allows', async () => {
    const input = await solid(64, 64, TEAL, 'png');
    const e = await rejection(input, { ...config({ maxInputBytes: 10 * MiB }), memoryBudgetBytes: input.length * INPUT_BYTES_HELD - 1 });
    expect(e.reason).toBe('too-many-bytes');
    const fits = { ...config({ maxInputBytes: 10 * MiB }), memoryBudgetBytes: input.length * INPUT_BYTES_HELD };
    await expect(transformImage(input, fits)).resolves.toBeDefined();
  });
});

describe('the size of each output is known before encoding', () => {
  const v = (extra: Partial<Parameters<typeof outputSize>[2]>) => ({ fit: 'cover' as const, withoutEnlargement: false, ...extra });

  test('outputSize agrees with sharp\'s resize for every fit, with and without enlargement, one edge or two', async () => {
    const fits = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
    const inputs: [number, number][] = [[40, 30], [30, 40], [7, 90], [120, 5], [64, 64]];
    const boxes: [number | undefined, number | undefined][] = [
      [20, undefined], [undefined, 20], [25, 10], [10, 25], [100, 60], [61, 133], [300, undefined],
    ];
    const wrong: string[] = [];
    for (const [w, h] of inputs) {
      const png = await solid(w, h, TEAL, 'png');
      for (const fit of fits) {
        for (const [width, height] of boxes) {
          for (const withoutEnlargement of [false, true]) {
            const info = (await sharp(png).resize({ width, height, fit, withoutEnlargement }).raw().toBuffer({ resolveWithObject: true })).info;
            const predicted = outputSize(w, h, { width, height, fit, withoutEnlargement });
            // within a pixel: sharp rounds after its shrink-on-load
            if (Math.abs(predicted.width - info.width) > 1 || Math.abs(predicted.height - info.height) > 1) {
              wrong.push(`${w}x${h} ${fit} ${width}x${height}${withoutEnlargement ? ' withoutEnlargement' : ''}: `
                + `predicted ${predicted.width}x${predicted.height}, sharp made ${info.width}x${info.height}`);
            }
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test('a 1x60000 JPEG through a 256-wide PNG variant (256 x 15,360,000) is refused as output-too-large, unencoded', async () => {
    // GIVEN
    const input = await sharp({ create: { width: 1, height: 60000, channels: 3, background: hex(TEAL) } }).jpeg().toBuffer();
    const cfg = config({ variants: [{ name: 'thumb', width: 256, fit: 'inside', format: 'png' }] });

    // THEN
    const e = await rejection(input, cfg);
    expect(e.reason).toBe('output-too-large');
    expect(e.message).toContain('256x15360000');
  });

  test('an edge one pixel past the encoders\' limit is refused; one at it is made', async () => {
    const limit = LIMITS.dimension.max;
    expect(outputSize(1, 64, v({ width: 256, fit: 'inside' }))).toEqual({ width: 256, height: 16384 });
    const cfg = config({ variants: [{ name: 'tall', width: 256, fit: 'inside', format: 'jpeg' }] });
    const tooTall = await sharp({ create: { width: 1, height: 64, channels: 3, background: hex(TEAL) } }).png().toBuffer();
    expect((await rejection(tooTall, cfg)).reason).toBe('output-too-large');

    const atLimit = config({ variants: [{ name: 'tall', height: limit, fit: 'inside', format: 'jpeg' }] });
    const out = only((await transformImage(await solid(1, 64, TEAL, 'png'), atLimit)).outputs);
    expect([out.width, out.height]).toEqual([Math.round(limit / 64), limit]);
  });

  test('a box of more pixels than LIMITS.outputPixels is refused, though each edge is allowed', async () => {
    const cfg = config({ variants: [{ name: 'huge', width: 16000, height: 16000, fit: 'cover' }] });
    expect(16000 * 16000).toBeGreaterThan(LIMITS.outputPixels);
    expect((await rejection(await solid(40, 30, TEAL, 'png'), cfg)).reason).toBe('output-too-large');
  });

  test('ordinary enlargements are made', async () => {
    const cfg = config({
      variants: [
        { name: 'inside', width: 400, fit: 'inside', format: 'png' },
        { name: 'box', width: 1600, height: 1200, fit: 'cover', format: 'webp' },
      ],
    });
    const result = await transformImage(await halves(100, 50, RED, BLUE, 'png'), cfg);
    expect(result.outputs.map((o) => [o.variant, o.width, o.height])).toEqual([['inside', 400, 200], ['box', 1600, 1200]]);
  });

  test('the displayed size counts: a 1x60000 JPEG stored sideways (EXIF orientation 6) is 60000x1, so a 256-wide variant is 256x1', async () => {
    const input = await sharp({ create: { width: 1, height: 60000, channels: 3, background: hex(TEAL) } })
      .withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const result = await transformImage(input, config({ variants: [{ name: 'thumb', width: 256, fit: 'inside', format: 'png' }] }));
    expect([only(result.outputs).width, only(result.outputs).height]).toEqual([256, 1]);
  });
});
