import { ConfigError, parsePipelineConfig, validatePipelineConfig } from '../../lambda-src/config';

/** A minimal valid document plus `extra`. */
function doc(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ outputBucket: 'out-bucket', ...extra });
}

/** A document with one variant: a valid one, changed by `changes`. */
function variantDoc(changes: Record<string, unknown>): string {
  return doc({ variants: [{ name: 'v', width: 100, height: 100, fit: 'cover', format: 'png', ...changes }] });
}

/** Asserts that parsing fails with a ConfigError whose message matches every pattern. */
function expectConfigError(raw: string | undefined, ...patterns: RegExp[]): void {
  let error: unknown;
  try {
    parsePipelineConfig(raw);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  for (const p of patterns) {
    expect((error as Error).message).toMatch(p);
  }
}

describe('defaults', () => {
  test('a document with only outputBucket gets the original system as its one variant', () => {
    // WHEN
    const config = parsePipelineConfig(doc());

    // THEN: the original Pillow Lambda wrote one grayscale 256x256 JPEG, stretched to fill.
    expect(config.variants).toHaveLength(1);
    expect(config.variants[0]).toMatchObject({
      name: 'grayscale-256',
      width: 256,
      height: 256,
      fit: 'fill',
      grayscale: true,
      format: 'jpeg',
      quality: 80,
      withoutEnlargement: false,
    });
    expect(config.variants[0].background).toMatch(/^#[0-9a-fA-F]{6}$/);
  });

  test('accepts JPEG, PNG, WebP, GIF, TIFF and AVIF by default, and not SVG', () => {
    // WHEN
    const config = parsePipelineConfig(doc());

    // THEN
    expect([...config.acceptedFormats].sort()).toEqual(['avif', 'gif', 'jpeg', 'png', 'tiff', 'webp']);
    expect(config.acceptedFormats).not.toContain('svg');
  });

  test('fills the remaining fields: no prefixes, metadata stripped, limits that admit a 24 MP photo', () => {
    // WHEN
    const config = parsePipelineConfig(doc());

    // THEN
    expect(config.version).toBe(1);
    expect(config.outputBucket).toBe('out-bucket');
    expect(config.inputBucket).toBeUndefined();
    expect(config.inputPrefix).toBe('');
    expect(config.outputPrefix).toBe('');
    expect(config.keepMetadata).toBe(false);
    expect(config.maxInputPixels).toBeGreaterThanOrEqual(6000 * 4000);
    expect(Number.isInteger(config.maxInputPixels)).toBe(true);
    expect(config.maxInputBytes).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    expect(Number.isInteger(config.maxInputBytes)).toBe(true);
    expect(config.concurrency).toBeGreaterThanOrEqual(1);
  });

  test('a variant given with only a name gets optional fields filled', () => {
    // WHEN
    const config = parsePipelineConfig(doc({ variants: [{ name: 'thumb', width: 64 }] }));

    // THEN
    const v = config.variants[0];
    expect(v.name).toBe('thumb');
    expect(v.width).toBe(64);
    expect(v.height).toBeUndefined();
    expect(v.grayscale).toBe(false);
    expect(v.withoutEnlargement).toBe(false);
    expect(['cover', 'contain', 'fill', 'inside', 'outside']).toContain(v.fit);
    expect(['jpeg', 'png', 'webp', 'avif', 'original']).toContain(v.format);
    expect(v.background).toMatch(/^#[0-9a-fA-F]{3,6}$/);
  });

  test('keeps every given value', () => {
    // GIVEN
    const given = {
      version: 1,
      inputBucket: 'in-bucket',
      outputBucket: 'out-bucket',
      inputPrefix: 'uploads/',
      outputPrefix: 'processed/',
      variants: [
        { name: 'a', width: 64, height: 32, fit: 'contain', grayscale: true, format: 'png', quality: 90, withoutEnlargement: true, background: '#123456' },
        { name: 'b', fit: 'inside', format: 'original' },
      ],
      acceptedFormats: ['jpeg', 'svg'],
      maxInputPixels: 1000,
      maxInputBytes: 2000,
      keepMetadata: true,
      concurrency: 4,
    };

    // WHEN
    const config = validatePipelineConfig(given);

    // THEN
    expect(config).toMatchObject({ ...given, variants: [given.variants[0], { name: 'b', fit: 'inside', format: 'original' }] });
  });

  test('accepts the boundary values of width, height and quality', () => {
    // WHEN
    const config = parsePipelineConfig(doc({
      variants: [
        { name: 'small', width: 1, height: 1, quality: 1 },
        { name: 'large', width: 16383, height: 16383, quality: 100 },
      ],
    }));

    // THEN
    expect(config.variants.map((v) => [v.width, v.height, v.quality])).toEqual([[1, 1, 1], [16383, 16383, 100]]);
  });

  test('the same bucket is allowed with prefixes that do not overlap', () => {
    // WHEN
    const config = parsePipelineConfig(doc({ inputBucket: 'out-bucket', inputPrefix: 'in/', outputPrefix: 'out/' }));

    // THEN
    expect(config.inputBucket).toBe(config.outputBucket);
  });

  test('different buckets may use the same prefix', () => {
    // WHEN
    const config = parsePipelineConfig(doc({ inputBucket: 'in-bucket', inputPrefix: 'images/', outputPrefix: 'images/' }));

    // THEN
    expect(config.inputPrefix).toBe(config.outputPrefix);
  });
});

describe('validation', () => {
  test.each([
    ['unset', undefined],
    ['empty', ''],
    ['blank', '  \n'],
  ])('fails when PIPELINE_CONFIG is %s', (_what, raw) => {
    expectConfigError(raw, /PIPELINE_CONFIG/, /not set/);
  });

  test('fails when the document is not JSON', () => {
    expectConfigError('{ outputBucket: out }', /PIPELINE_CONFIG/, /JSON/);
  });

  test.each(['[]', '"out-bucket"', 'null', '42'])('fails when the document %s is not an object', (raw) => {
    expectConfigError(raw, /object/);
  });

  test('fails when the version is not 1', () => {
    expectConfigError(doc({ version: 2 }), /version/);
  });

  test('fails when outputBucket is missing', () => {
    expectConfigError('{}', /outputBucket/, /required/);
  });

  test('fails when outputBucket is empty', () => {
    expectConfigError(JSON.stringify({ outputBucket: '' }), /outputBucket/);
  });

  test('fails when outputBucket is not a string', () => {
    expectConfigError(JSON.stringify({ outputBucket: 5 }), /outputBucket/);
  });

  test('fails when inputBucket is not a string', () => {
    expectConfigError(doc({ inputBucket: ['a'] }), /inputBucket/);
  });

  test('fails when variants is empty', () => {
    expectConfigError(doc({ variants: [] }), /variants/);
  });

  test('fails when variants is not an array', () => {
    expectConfigError(doc({ variants: { name: 'a' } }), /variants/);
  });

  test('fails when a variant is not an object', () => {
    expectConfigError(doc({ variants: ['thumb'] }), /variants\[0\]/);
  });

  test('fails when two variants share a name, naming it', () => {
    expectConfigError(doc({ variants: [{ name: 'thumb' }, { name: 'other' }, { name: 'thumb' }] }), /unique|twice|duplicate/i, /thumb/);
  });

  test('fails when a variant has no name', () => {
    expectConfigError(doc({ variants: [{ width: 10 }] }), /variants\[0\]\.name/);
  });

  test.each(['', '../evil', 'a/b', '-lead', 'x'.repeat(65), 'sp ace'])('fails when a variant name is %j (it becomes part of every output key)', (name) => {
    expectConfigError(doc({ variants: [{ name }] }), /variants\[0\]\.name/);
  });

  test.each(['stretch', 'COVER', 3])('fails when fit is %j', (fit) => {
    expectConfigError(variantDoc({ fit }), /variants\[0\]\.fit/);
  });

  test.each(['jpg', 'JPEG', 'svg', 'heic', true])('fails when format is %j', (format) => {
    expectConfigError(variantDoc({ format }), /variants\[0\]\.format/);
  });

  test.each([0, 16384, 1.5, -1, '100'])('fails when width is %j', (width) => {
    expectConfigError(variantDoc({ width }), /variants\[0\]\.width/);
  });

  test.each([0, 16384, 2.5])('fails when height is %j', (height) => {
    expectConfigError(variantDoc({ height }), /variants\[0\]\.height/);
  });

  test.each([101, 0, 79.5])('fails when quality is %j', (quality) => {
    expectConfigError(variantDoc({ quality }), /variants\[0\]\.quality/);
  });

  test.each(['white', '#ggg', '#12345', 'ffffff', '#fffffff', 0])('fails when background is %j', (background) => {
    expectConfigError(variantDoc({ background }), /variants\[0\]\.background/);
  });

  test.each(['yes', 1])('fails when grayscale is %j', (grayscale) => {
    expectConfigError(variantDoc({ grayscale }), /variants\[0\]\.grayscale/);
  });

  test('fails when withoutEnlargement is not a boolean', () => {
    expectConfigError(variantDoc({ withoutEnlargement: 'true' }), /variants\[0\]\.withoutEnlargement/);
  });

  test('names the index of the bad variant', () => {
    expectConfigError(doc({ variants: [{ name: 'a' }, { name: 'b', width: 0 }] }), /variants\[1\]\.width/);
  });

  test('fails when inputPrefix starts with "/"', () => {
    expectConfigError(doc({ inputPrefix: '/uploads/' }), /inputPrefix/);
  });

  test('fails when outputPrefix starts with "/"', () => {
    expectConfigError(doc({ outputPrefix: '/processed/' }), /outputPrefix/);
  });

  test.each([
    ['both empty', '', ''],
    ['the same', 'images/', 'images/'],
    ['output inside input', 'in/', 'in/out/'],
    ['input inside output', 'out/in/', 'out/'],
    ['output empty', 'in/', ''],
    ['one a string prefix of the other', 'in', 'in2/'],
  ])('fails when input and output share a bucket with overlapping prefixes (%s)', (_what, inputPrefix, outputPrefix) => {
    expectConfigError(doc({ inputBucket: 'out-bucket', inputPrefix, outputPrefix }), /out-bucket/, /overlap/);
  });

  test('fails when acceptedFormats is empty', () => {
    expectConfigError(doc({ acceptedFormats: [] }), /acceptedFormats/);
  });

  test.each(['bmp', 'jpg', 'heic'])('fails when acceptedFormats holds %j', (format) => {
    expectConfigError(doc({ acceptedFormats: ['png', format] }), /acceptedFormats\[1\]/);
  });

  test.each([
    ['maxInputPixels', 0],
    ['maxInputPixels', 1.5],
    ['maxInputBytes', -1],
    ['maxInputBytes', '50MB'],
    ['concurrency', 0],
    ['concurrency', 65],
    ['keepMetadata', 'false'],
  ])('fails when %s is %j', (field, value) => {
    expectConfigError(doc({ [field]: value }), new RegExp(field));
  });
});
