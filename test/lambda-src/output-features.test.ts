/**
 * Per-variant output features: key templates, crop positions, rules by prefix, animation, headers
 * and metadata, and the never-larger guard; in the contract's rules, the transform and the handler.
 */
import sharp from 'sharp';
import { FakeS3 } from './fake-s3';
import { animated, BLUE, decode, GREEN, mean, noisy, RED, rawPattern, regionMean, solid, TEAL, type Rgb } from './images';
import { ConfigError, validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { possibleOutputKeys, variantKey } from '../../lambda-src/output-keys';
import { ImageProcessor, type ProcessedOutput, type RecordOutcome } from '../../lambda-src/processor';
import { s3EventRecord } from '../../lambda-src/s3-event';
import { ImageRejectedError, transformImage, type TransformPolicy } from '../../lambda-src/transform';
import {
  completeVariant, DEFAULT_VARIANT, LIMITS, renderKeyTemplate, rulesProblems, variantsProblems,
} from '../../src/contract';

function parse(doc: Record<string, unknown>): PipelineConfig {
  return validatePipelineConfig({ outputBucket: 'out', ...doc });
}

function problem(doc: Record<string, unknown>): string {
  try {
    parse(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('no problem found');
}

function policy(variants: Record<string, unknown>[], extra: Partial<TransformPolicy> = {}): TransformPolicy {
  const c = parse({ variants });
  return { ...c, ...extra };
}

describe('the contract: variant fields', () => {
  test('a variant without the new fields is written as before (no new keys in the document)', () => {
    expect(Object.keys(JSON.parse(JSON.stringify(completeVariant(DEFAULT_VARIANT)))).sort())
      .toEqual(['background', 'fit', 'format', 'grayscale', 'height', 'name', 'quality', 'width', 'withoutEnlargement']);
  });

  test('gif is an output format', () => {
    expect(parse({ variants: [{ name: 'g', format: 'gif' }] }).variants[0].format).toBe('gif');
  });

  test.each([
    [{ key: '{dir}/{name}_{width}x{height}.{ext}', width: 300, height: 200 }],
    [{ key: '{path}.{inputExt}' }],
    [{ key: 'thumbs/{path}-{variant}.{ext}' }],
  ])('accepts the template %j', (v) => {
    expect(variantsProblems([{ name: 'v', ...v }])).toEqual([]);
  });

  test.each([
    ['{variant}/{name}.{ext}', /must hold \{path\}, or \{dir\} and \{name\}/],
    ['{variant}/{dir}.{ext}', /must hold \{path\}, or \{dir\} and \{name\}/],
    ['{path}.{format}', /unknown placeholder \{format\}/],
    ['{path.{ext}', /unmatched/],
    ['/{path}.{ext}', /must not start with "\/"/],
    ['_thumbs/{path}.{ext}', /must not start with "_"/],
    ['{path}_{width}.{ext}', /uses \{width\}, but the variant sets no width/],
    ['', /key template of 1 to/],
  ])('refuses the template %j, naming the prop', (key, pattern) => {
    const problems = variantsProblems([{ name: 'v', key }]);
    expect(problems.join('\n')).toMatch(/variants\[0\]\.key/);
    expect(problems.join('\n')).toMatch(pattern);
  });

  test('two variants whose templates give one input the same key are refused; sizes that differ keep them apart', () => {
    const same = variantsProblems([
      { name: 'a', key: '{path}.{ext}', width: 100 },
      { name: 'b', key: '{path}.{ext}', width: 200 },
    ]);
    expect(same.join('\n')).toMatch(/variants\[1\] and variants\[0\] would write one input to the same output key/);
    expect(variantsProblems([
      { name: 'a', key: '{path}_{width}.{ext}', width: 100 },
      { name: 'b', key: '{path}_{width}.{ext}', width: 200 },
    ])).toEqual([]);
    // different formats, different extensions
    expect(variantsProblems([{ name: 'a', key: '{path}.{ext}' }, { name: 'b', key: '{path}.{ext}', format: 'webp' }])).toEqual([]);
    // a variant named like another's literal folder
    expect(variantsProblems([{ name: 'x' }, { name: 'y', key: 'x/{path}.{ext}' }]).join('\n')).toMatch(/same output key/);
  });

  test.each([
    [{ position: 'top' }, /variants\[0\]\.position must be one of centre, north/],
    [{ position: 'north', fit: 'fill' }, /position applies only with fit cover or contain/],
    [{ position: 'attention', fit: 'contain' }, /crop strategy, which applies only with fit cover/],
    [{ position: 'entropy', animated: true, format: 'webp' }, /cannot crop an animation/],
    [{ animated: true }, /animated needs a format that keeps frames \(gif, webp, original\), got format "jpeg"/],
    [{ animated: 'yes', format: 'gif' }, /variants\[0\]\.animated must be true or false/],
    [{ whenLarger: 'never' }, /variants\[0\]\.whenLarger must be one of write, keep-source, skip/],
    [{ cacheControl: 'max-age=60 \u00e9' }, /variants\[0\]\.cacheControl must be 1 to 1024 printable US-ASCII/],
    [{ contentDisposition: '' }, /variants\[0\]\.contentDisposition must be 1 to 1024/],
    [{ metadata: { Team: 'a' } }, /metadata key "Team" must be 1 to 128 lower-case/],
    [{ metadata: { 'source-key': 'forged' } }, /starts with "source-", which the pipeline keeps/],
    [{ metadata: { a: 'x'.repeat(1000), b: 'y'.repeat(900) } }, /takes 1902 bytes \(keys and values\), more than the 1848/],
    [{ metadata: ['a'] }, /variants\[0\]\.metadata must be a map/],
    [{ copyUserMetadata: 1 }, /copyUserMetadata must be true or false/],
  ])('refuses %p, naming the prop', (v, pattern) => {
    expect(variantsProblems([{ name: 'v', width: 10, height: 10, ...v }]).join('\n')).toMatch(pattern);
  });

  test.each([
    [{ position: 'north', fit: 'contain' }],
    [{ position: 'attention' }],
    [{ position: 'southwest', animated: true, format: 'gif' }],
    [{ animated: true, format: 'original' }],
    [{ metadata: { 'team': 'a', 'cost-centre': '42' }, cacheControl: 'public, max-age=31536000, immutable', contentDisposition: 'inline' }],
  ])('accepts %j', (v) => {
    expect(variantsProblems([{ name: 'v', width: 10, height: 10, ...v }])).toEqual([]);
  });
});

describe('the contract: rules by prefix', () => {
  const thumb = { name: 'thumb', width: 64, height: 64 };

  test('a document with rules has no variants of its own and each rule complete', () => {
    const c = parse({ rules: [{ prefix: 'avatars/', variants: [thumb] }, { prefix: 'products/', variants: [{ name: 'big', width: 1200, format: 'webp' }] }] });
    expect(c.variants).toEqual([]);
    expect(c.rules!.map((r) => [r.prefix, r.variants.map((v) => [v.name, v.fit, v.format])]))
      .toEqual([['avatars/', [['thumb', 'cover', 'jpeg']]], ['products/', [['big', 'cover', 'webp']]]]);
  });

  test.each([
    [[{ prefix: 'a/', variants: [thumb] }, { prefix: 'a/b/', variants: [thumb] }], /rules\[0\]\.prefix "a\/" and rules\[1\]\.prefix "a\/b\/" overlap/],
    [[{ prefix: '', variants: [thumb] }, { prefix: 'b/', variants: [thumb] }], /an empty prefix overlaps every other/],
    [[{ prefix: 'a/', variants: [] }], /rules\[0\]\.variants must hold 1 to 10 variants/],
    [[{ prefix: 'a/' }], /rules\[0\]\.variants is required/],
    [[{ prefix: '/a', variants: [thumb] }], /rules\[0\]\.prefix must not start with "\/"/],
    [[{ prefix: 'a/', variants: [thumb, thumb] }], /rules\[0\]\.variants\[1\]\.name "thumb" is used by another variant/],
    [[{ prefix: 'a/', variants: [{ name: 'v', position: 'up' }] }], /rules\[0\]\.variants\[0\]\.position/],
    [[], /rules must hold 1 to 20 rules, got 0/],
  ])('refuses rules %j', (rules, pattern) => {
    expect(problem({ rules })).toMatch(pattern);
  });

  test('the construct\'s document form parses: an empty variants list beside rules; a non-empty one is refused', () => {
    expect(parse({ variants: [], rules: [{ prefix: 'a/', variants: [thumb] }] }).rules).toHaveLength(1);
    expect(problem({ variants: [thumb], rules: [{ prefix: 'a/', variants: [thumb] }] })).toMatch(/variants and rules are exclusive/);
  });

  test('rules and variants are exclusive', () => {
    expect(rulesProblems([{ prefix: 'a/', variants: [thumb] }], [thumb]).join('\n')).toMatch(/variants and rules are exclusive/);
  });

  test('a shared bucket refuses a rule prefix that overlaps the output prefix', () => {
    expect(problem({
      inputBucket: 'b', outputBucket: 'b', inputPrefix: '', outputPrefix: 'out/', rules: [{ prefix: 'out/x/', variants: [thumb] }],
    })).toMatch(/inputPrefix \("out\/x\/"\) and outputPrefix \("out\/"\) overlap/);
  });
});

describe('output keys', () => {
  const sized = { name: 'card', width: 300, height: 200 };

  test.each([
    ['photos/2024/cat.JPG', '{dir}/{name}_{width}x{height}.{ext}', 'photos/2024/cat_300x200.webp'],
    ['cat.JPG', '{dir}/{name}_{width}x{height}.{ext}', 'cat_300x200.webp'],
    ['photos/2024/cat.JPG', '{path}.{inputExt}', 'photos/2024/cat.JPG'],
    ['photos/noext', '{variant}/{path}.{ext}', 'card/photos/noext.webp'],
    ['.hidden', '{variant}/{path}.{ext}', 'card/.hidden.webp'],
  ])('%j with %j is %j', (relative, template, expected) => {
    expect(renderKeyTemplate(template, sized, relative, 'webp')).toBe(expected);
  });

  test('the default template is the scheme keys always had', () => {
    const layout = { inputPrefix: 'in/', outputPrefix: 'out/' };
    expect(variantKey(layout, 'in/a/b.c/d.png', 'v', 'jpg')).toBe('out/v/a/b.c/d.jpg');
    expect(variantKey(layout, 'in/a.tar.gz', 'v', 'jpg')).toBe('out/v/a.tar.jpg');
  });

  test('a variant named in a config is written with its template, found in the rule of the key', () => {
    const c = parse({
      inputPrefix: 'in/',
      outputPrefix: 'out/',
      rules: [{ prefix: 'avatars/', variants: [{ name: 's', width: 64, height: 64, key: 'avatars-{width}/{path}.{ext}' }] },
        { prefix: 'docs/', variants: [{ name: 's' }] }],
    });
    expect(variantKey(c, 'in/avatars/me.png', 's', 'jpg')).toBe('out/avatars-64/avatars/me.jpg');
    expect(variantKey(c, 'in/docs/me.png', 's', 'jpg')).toBe('out/s/docs/me.jpg');
  });

  test('a variant that may keep its source may be written with any extension, and its possible keys say so', () => {
    const c = parse({ variants: [{ name: 'g', whenLarger: 'keep-source' }, { name: 'p', format: 'png' }] });
    expect(possibleOutputKeys(c, 'x.gif').sort())
      .toEqual(['_skipped/x.gif.json', 'g/x.avif', 'g/x.gif', 'g/x.jpg', 'g/x.png', 'g/x.tif', 'g/x.webp', 'p/x.png']);
    // no guard that may skip, no skip record
    expect(possibleOutputKeys(parse({ variants: [{ name: 'p', format: 'png' }] }), 'x.gif')).toEqual(['p/x.png']);
  });
});

/** Top half `top`, bottom half `bottom`. */
function stacked(width: number, height: number, top: Rgb, bottom: Rgb): Promise<Buffer> {
  return rawPattern(width, height, (_x, y) => (y < height / 2 ? top : bottom)).png().toBuffer();
}

const GREY = { r: 128, g: 128, b: 128 };

/** 400x100 flat grey but for a 60x60 patch of colour noise near the right edge (x 320 to 379, y 20 to 79). */
function greyWithBusyPatch(): Promise<Buffer> {
  let s = 7;
  return rawPattern(400, 100, (x, y) => {
    if (x < 320 || x >= 380 || y < 20 || y >= 80) return GREY;
    s = (s * 48271) % 2147483647;
    return { r: s % 256, g: Math.floor(s / 256) % 256, b: Math.floor(s / 65536) % 256 };
  }).png().toBuffer();
}

/** Pixels of an encoded image that are not the flat grey, counted here. */
async function notGrey(buf: Buffer): Promise<number> {
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) if (data[i] !== 128 || data[i + 1] !== 128 || data[i + 2] !== 128) n++;
  return n;
}

describe('crop positions', () => {
  test.each([
    ['north', RED],
    ['south', BLUE],
  ])('cover with %s keeps that edge', async (position, colour) => {
    const input = await stacked(100, 300, RED, BLUE);
    const r = await transformImage(input, policy([{ name: 'sq', width: 100, height: 100, format: 'png', position }]));
    const [red, , blue] = await mean(r.outputs[0].body);
    expect(red).toBeCloseTo(colour.r, -1);
    expect(blue).toBeCloseTo(colour.b, -1);
  });

  test('contain with north puts the image at the top of its letterbox', async () => {
    const input = await solid(200, 100, RED);
    const r = await transformImage(input, policy([{ name: 'box', width: 100, height: 100, fit: 'contain', position: 'north', background: '#0000ff', format: 'png' }]));
    const top = await regionMean(r.outputs[0].body, 0, 0, 100, 10);
    const bottom = await regionMean(r.outputs[0].body, 0, 90, 100, 10);
    expect(top[0]).toBeGreaterThan(200);
    expect(bottom[2]).toBeGreaterThan(200);
  });

  test.each(['attention', 'entropy'])('%s crops to the busy patch, which the centre crop misses', async (position) => {
    const input = await greyWithBusyPatch();
    const [smart, centre] = await Promise.all([position, undefined].map(async (p) => {
      const r = await transformImage(input, policy([{ name: 'sq', width: 100, height: 100, format: 'png', ...(p ? { position: p } : {}) }]));
      return r.outputs[0].body;
    }));
    // The whole 60x60 patch is in the smart crop (the image is not scaled: 100 rows stay 100).
    expect(await notGrey(smart)).toBeGreaterThan(0.95 * 3600);
    expect(await notGrey(centre)).toBe(0);
  });

  test('two variants from one shared decode each keep their own position', async () => {
    const input = await stacked(100, 300, RED, BLUE);
    const r = await transformImage(input, policy([
      { name: 'top', width: 100, height: 100, format: 'png', position: 'north' },
      { name: 'bottom', width: 100, height: 100, format: 'png', position: 'south' },
    ]));
    expect((await mean(r.outputs[0].body))[0]).toBeGreaterThan(200);
    expect((await mean(r.outputs[1].body))[2]).toBeGreaterThan(200);
  });
});

describe('animation', () => {
  const frames = [RED, GREEN, BLUE];

  test.each([
    ['gif', 'gif'],
    ['webp', 'webp'],
    ['gif', 'original'],
    ['webp', 'gif'],
  ] as const)('an animated %s input keeps its frames in a %s variant that asks to', async (inputFormat, format) => {
    const input = await animated(60, 40, frames, inputFormat);
    const r = await transformImage(input, policy([{ name: 'anim', width: 30, height: 20, format, animated: true }]));
    const out = r.outputs[0];
    const d = await decode(out.body);
    expect(d.pages).toBe(3);
    expect(out.frames).toBe(3);
    expect([out.width, out.height]).toEqual([30, 20]);
  });

  test('without animated, or in a format without frames, the first frame only', async () => {
    const input = await animated(60, 40, frames, 'gif');
    const r = await transformImage(input, policy([{ name: 'still', width: 30, height: 20, format: 'webp' }, { name: 'jpeg', width: 30, height: 20 }]));
    for (const out of r.outputs) {
      expect((await decode(out.body)).pages).toBe(1);
      expect(out.frames).toBeUndefined();
      expect((await mean(out.body))[0]).toBeGreaterThan(200); // the red first frame
    }
  });

  test('an animated variant beside a still one: each as asked', async () => {
    const input = await animated(60, 40, frames, 'webp');
    const r = await transformImage(input, policy([
      { name: 'anim', width: 30, height: 20, format: 'webp', animated: true },
      { name: 'still', width: 30, height: 20, format: 'png' },
    ]));
    expect((await decode(r.outputs[0].body)).pages).toBe(3);
    expect((await decode(r.outputs[1].body)).pages).toBe(1);
  });

  test('the pixel limit counts every frame of an animation a variant keeps, and only then', async () => {
    const input = await animated(50, 50, [RED, GREEN, BLUE, RED], 'gif'); // 4 x 2500 pixels
    const keeps = [{ name: 'anim', format: 'gif', animated: true }];
    await expect(transformImage(input, policy(keeps, { maxInputPixels: 5000 }))).rejects.toMatchObject({
      reason: 'too-many-pixels', message: expect.stringMatching(/4 frames of 50x50 \(10000 pixels\), more than the limit of 5000/),
    });
    const still = await transformImage(input, policy([{ name: 'still', format: 'gif' }], { maxInputPixels: 5000 }));
    expect((await decode(still.outputs[0].body)).pages).toBe(1);
    expect((await transformImage(input, policy(keeps, { maxInputPixels: 10000 }))).outputs[0].frames).toBe(4);
  });

  test(`an animation of more than ${LIMITS.animationFrames} frames is rejected when a variant keeps it`, async () => {
    const many = Array.from({ length: LIMITS.animationFrames + 1 }, (_, i) => (i % 2 ? RED : BLUE));
    const input = await animated(4, 4, many, 'gif');
    const err = await transformImage(input, policy([{ name: 'anim', format: 'gif', animated: true }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageRejectedError);
    expect(err).toMatchObject({ reason: 'too-many-frames', message: expect.stringMatching(`${LIMITS.animationFrames + 1} frames`) });
    expect((await transformImage(input, policy([{ name: 'still', format: 'gif' }]))).outputs).toHaveLength(1);
  });
});

describe('the never-larger guard', () => {
  // A 64x64 one-colour PNG is a few hundred bytes; its 256x256 JPEG is larger.
  let tiny: Buffer;
  beforeAll(async () => { tiny = await solid(64, 64, TEAL, 'png'); });
  const big = { name: 'big', width: 256, height: 256, quality: 95 };

  test('write (the default) writes the larger output', async () => {
    const r = await transformImage(tiny, policy([big]));
    expect(r.outputs[0].body.length).toBeGreaterThan(tiny.length);
    expect(r.outputs[0].note).toBeUndefined();
    expect(r.outputs[0].format).toBe('jpeg');
  });

  test('keep-source writes the input, unchanged, with its format, and says why', async () => {
    const r = await transformImage(tiny, policy([{ ...big, whenLarger: 'keep-source' }]));
    const out = r.outputs[0];
    expect(out.body.equals(tiny)).toBe(true);
    expect([out.format, out.extension, out.contentType, out.width, out.height]).toEqual(['png', 'png', 'image/png', 64, 64]);
    expect(out.note).toEqual({ guard: 'kept-source', reason: expect.stringMatching(/^the jpeg output \(\d+ bytes\) is larger than the input \(\d+ bytes\); the input is written unchanged$/) });
  });

  test('skip writes nothing, and says why', async () => {
    const r = await transformImage(tiny, policy([{ ...big, whenLarger: 'skip' }]));
    expect(r.outputs[0].body.length).toBe(0);
    expect(r.outputs[0].note).toEqual({ guard: 'skipped', reason: expect.stringMatching(/larger than the input/) });
  });

  test('an output no larger than the input is written, whatever the guard', async () => {
    const photo = await noisy(800, 600, 'jpeg');
    const r = await transformImage(photo, policy([{ name: 'small', width: 100, height: 100, whenLarger: 'skip' }, { name: 'k', width: 120, whenLarger: 'keep-source' }]));
    for (const out of r.outputs) {
      expect(out.note).toBeUndefined();
      expect(out.format).toBe('jpeg');
      expect(out.body.length).toBeLessThan(photo.length);
    }
  });

  test('an SVG input is never kept: the variant is skipped', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#f00"/></svg>');
    const r = await transformImage(svg, { ...policy([{ ...big, whenLarger: 'keep-source' }]), acceptedFormats: ['svg'] });
    expect(r.outputs[0].note).toEqual({ guard: 'skipped', reason: expect.stringMatching(/an SVG input is never written as an output/) });
  });
});

describe('the handler', () => {
  const IN = 'in';
  const OUT = 'out';
  let s3: FakeS3;
  beforeEach(() => { s3 = new FakeS3(); });
  afterEach(() => s3.restore());

  function handler(doc: Record<string, unknown>, logs: Record<string, unknown>[] = []): ImageProcessor {
    return new ImageProcessor(s3.client('h'), validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'up/', ...doc }), (e) => logs.push(e));
  }

  async function upload(key: string, body: Buffer, sequencer = '0055AED6DCD90281E5', metadata: Record<string, string> = {}): Promise<RecordOutcome> {
    const eTag = s3.upload(IN, key, body, metadata);
    return current.processRecord(s3EventRecord({ bucket: IN, key, size: body.length, eTag, sequencer }));
  }
  let current: ImageProcessor;

  const rules = [
    { prefix: 'avatars/', variants: [{ name: 's64', width: 64, height: 64, key: '{dir}/{name}_{width}x{height}.{ext}' }, { name: 's128', width: 128, height: 128 }] },
    { prefix: 'products/', variants: [{ name: 'big', width: 300, format: 'webp' }] },
  ];

  test('each upload is made into the variants of its rule; an upload under no rule is skipped, with the reason', async () => {
    current = handler({ rules });
    const photo = await solid(400, 300, TEAL, 'jpeg');
    const a = await upload('up/avatars/me.jpg', photo);
    const p = await upload('up/products/chair.jpg', photo);
    const before = s3.keys(OUT);
    const o = await upload('up/other/x.jpg', photo);
    expect(a).toMatchObject({ status: 'processed', outputs: [{ key: 'avatars/me_64x64.jpg' }, { key: 's128/avatars/me.jpg' }] });
    expect(p).toMatchObject({ status: 'processed', outputs: [{ key: 'big/products/chair.webp', width: 300 }] });
    expect(o).toEqual({ status: 'skipped', key: 'up/other/x.jpg', why: 'key is under no rule\'s prefix (rules: "up/avatars/", "up/products/")' });
    expect(s3.keys(OUT)).toEqual(before);
  });

  test('a rejected upload under a rule clears what an older upload wrote with that rule\'s templates', async () => {
    current = handler({ rules });
    await upload('up/avatars/me.jpg', await solid(400, 300, TEAL, 'jpeg'), '0055AED6DCD90281E5');
    expect(s3.keys(OUT)).toEqual(['avatars/me_64x64.jpg', 's128/avatars/me.jpg']);
    const r = await upload('up/avatars/me.jpg', Buffer.from('not an image'), '0055AED6DCD90281E6');
    expect(r.status).toBe('rejected');
    expect(s3.keys(OUT)).toEqual(['_failed/avatars/me.jpg.json']);
  });

  test('headers and metadata: the variant\'s over the input\'s, the pipeline\'s source-* over both', async () => {
    current = handler({
      variants: [{
        name: 'v',
        width: 32,
        height: 32,
        cacheControl: 'public, max-age=31536000, immutable',
        contentDisposition: 'inline',
        metadata: { team: 'photos', owner: 'variant' },
        copyUserMetadata: true,
      }, { name: 'plain', width: 16 }],
    });
    const r = await upload('up/a b.jpg', await solid(100, 100, RED, 'jpeg'), '0055AED6DCD90281E5',
      { 'owner': 'ann', 'licence': 'cc-by', 'source-key': 'forged', 'source-sequencer': 'FFFFFFFFFFFFFFFFFFFF' });
    expect(r.status).toBe('processed');
    const v = s3.object(OUT, 'v/a b.jpg')!;
    expect(v.cacheControl).toBe('public, max-age=31536000, immutable');
    expect(v.contentDisposition).toBe('inline');
    expect(v.metadata).toMatchObject({ 'team': 'photos', 'owner': 'variant', 'licence': 'cc-by', 'source-key': 'up%2Fa%20b.jpg', 'source-sequencer': '0055AED6DCD90281E5' });
    const plain = s3.object(OUT, 'plain/a b.jpg')!;
    expect([plain.cacheControl, plain.contentDisposition]).toEqual([undefined, undefined]);
    expect(Object.keys(plain.metadata).sort()).toEqual(['source-etag', 'source-key', 'source-key-sha256', 'source-sequencer']);
  });

  test('input metadata that would pass S3\'s 2 KB with the source-* metadata is rejected, with a failure record, when copied', async () => {
    const variants = [{ name: 'v', width: 32, copyUserMetadata: true }];
    current = handler({ variants });
    const big = { notes: 'n'.repeat(1900) };
    const r = await upload('up/x.jpg', await solid(50, 50, RED, 'jpeg'), '0055AED6DCD90281E5', big);
    expect(r).toMatchObject({ status: 'rejected', reason: 'metadata-too-large' });
    const rec = JSON.parse(s3.object(OUT, '_failed/x.jpg.json')!.body.toString()) as { message: string };
    expect(rec.message).toMatch(/variant v's outputs with its own, takes 1905 bytes: more than the 1848 bytes/);
    // not copied: no problem
    current = handler({ variants: [{ name: 'v', width: 32 }] });
    expect((await upload('up/x.jpg', await solid(50, 50, RED, 'jpeg'), '0055AED6DCD90281E6', big)).status).toBe('processed');
  });

  test('metadata near the limit leaves out source-key, never the ordering metadata', async () => {
    current = handler({ variants: [{ name: 'v', width: 32, copyUserMetadata: true }] });
    const key = `up/${'k'.repeat(600)}.jpg`;
    const r = await upload(key, await solid(50, 50, RED, 'jpeg'), '0055AED6DCD90281E5', { notes: 'n'.repeat(1500) });
    expect(r.status).toBe('processed');
    const out = s3.object(OUT, `v/${'k'.repeat(600)}.jpg`)!;
    expect(out.metadata['source-key']).toBeUndefined();
    expect(out.metadata).toMatchObject({ 'source-sequencer': '0055AED6DCD90281E5', 'notes': 'n'.repeat(1500) });
    expect(out.metadata['source-key-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('keep-source writes the input under its own extension, and removes an older upload\'s output of another extension', async () => {
    current = handler({ variants: [{ name: 'g', width: 256, height: 256, quality: 95, whenLarger: 'keep-source' }] });
    const older = await upload('up/pic', await noisy(800, 600, 'jpeg'), '0055AED6DCD90281E5');
    expect(older).toMatchObject({ status: 'processed', outputs: [{ key: 'g/pic.jpg' }] });
    expect((older as { outputs: ProcessedOutput[] }).outputs[0].note).toBeUndefined();
    const tiny = await solid(64, 64, TEAL, 'png');
    const newer = await upload('up/pic', tiny, '0055AED6DCD90281E6');
    expect(newer).toMatchObject({
      status: 'processed',
      outputs: [{ key: 'g/pic.png', format: 'png', bytes: tiny.length, width: 64, height: 64, note: { guard: 'kept-source' } }],
    });
    expect(s3.keys(OUT)).toEqual(['g/pic.png']);
    expect(s3.object(OUT, 'g/pic.png')!.body.equals(tiny)).toBe(true);
    expect(s3.object(OUT, 'g/pic.png')!.contentType).toBe('image/png');
  });

  test('an upload whose every output is skipped leaves a skip record; a later one with outputs removes it', async () => {
    current = handler({ variants: [{ name: 'g', width: 256, height: 256, quality: 95, whenLarger: 'skip' }] });
    await upload('up/pic.png', await solid(64, 64, TEAL, 'png'), '0055AED6DCD90281E5');
    expect(s3.keys(OUT)).toEqual(['_skipped/pic.png.json']);
    expect(JSON.parse(s3.object(OUT, '_skipped/pic.png.json')!.body.toString())).toMatchObject({
      key: 'up/pic.png', sequencer: '0055AED6DCD90281E5', outputs: [{ variant: 'g', note: { guard: 'skipped' } }],
    });
    await upload('up/pic.png', await noisy(800, 600, 'png'), '0055AED6DCD90281E6');
    expect(s3.keys(OUT)).toEqual(['g/pic.jpg']);
  });

  test('an older upload whose event runs after a newer one that skipped everything does not bring its output back', async () => {
    const cfg = { variants: [{ name: 'g', width: 256, height: 256, quality: 95, whenLarger: 'skip' }] };
    const older = new ImageProcessor(s3.client('older'), validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'up/', ...cfg }), () => undefined);
    const newer = new ImageProcessor(s3.client('newer'), validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'up/', ...cfg }), () => undefined);
    const olderBody = await noisy(800, 600, 'png');
    const olderRecord = s3EventRecord({ bucket: IN, key: 'up/pic.png', size: olderBody.length, eTag: s3.upload(IN, 'up/pic.png', olderBody), sequencer: '0055AED6DCD90281E5' });
    // the older event has read its object and stops before its first write
    const held = s3.hold('older', 'PutObject');
    const olderDone = older.processRecord(olderRecord);
    await held.reached;
    const newerBody = await solid(64, 64, TEAL, 'png');
    const newerRecord = s3EventRecord({ bucket: IN, key: 'up/pic.png', size: newerBody.length, eTag: s3.upload(IN, 'up/pic.png', newerBody), sequencer: '0055AED6DCD90281E6' });
    expect(await newer.processRecord(newerRecord)).toMatchObject({ status: 'processed', outputs: [{ note: { guard: 'skipped' } }] });
    held.release();
    expect(await olderDone).toMatchObject({ status: 'skipped', why: expect.stringMatching(/superseded/) });
    expect(s3.keys(OUT)).toEqual(['_skipped/pic.png.json']);
  });

  test('skip writes nothing and removes an older upload\'s output; the outcome says why', async () => {
    current = handler({ variants: [{ name: 'g', width: 256, height: 256, quality: 95, whenLarger: 'skip' }, { name: 'keep', width: 8 }] });
    await upload('up/pic.png', await noisy(800, 600, 'png'), '0055AED6DCD90281E5');
    expect(s3.keys(OUT)).toEqual(['g/pic.jpg', 'keep/pic.jpg']);
    const newer = await upload('up/pic.png', await solid(64, 64, TEAL, 'png'), '0055AED6DCD90281E6');
    expect(newer).toMatchObject({ status: 'processed', outputs: [{ key: 'g/pic.jpg', bytes: 0, note: { guard: 'skipped' } }, { key: 'keep/pic.jpg' }] });
    expect(s3.keys(OUT)).toEqual(['keep/pic.jpg']);
  });
});
