/**
 * The manifest of a processed upload: what it records, how it is ordered with the outputs (the
 * newest upload's manifest wins), and how it rides in the ImageProcessed event.
 */
import { createHash } from 'crypto';
import { PutEventsCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { decode as decodeBlurHash, isBlurhashValid } from 'blurhash';
import sharp from 'sharp';
import { FakeS3 } from './fake-s3';
import { BLUE, halves, RED, solid, TEAL, WHITE } from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { fingerprint, hammingDistance, withManifest, EVENT_ENTRY_LIMIT, type Manifest } from '../../lambda-src/manifest';
import { manifestKey } from '../../lambda-src/output-keys';
import { ImageProcessor } from '../../lambda-src/processor';
import { s3EventRecord } from '../../lambda-src/s3-event';

const IN = 'in';
const OUT = 'out';
const KEY = 'uploads/photo.jpg';
const MANIFEST = '_manifests/photo.jpg.json';

let s3: FakeS3;
beforeEach(() => { s3 = new FakeS3(); });
afterEach(() => s3.restore());

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'uploads/', ...extra });
}

/** A client that records the name of every command it sends. */
function counting(client: S3Client, names: string[]): S3Client {
  const send = (command: { constructor: { name: string } }) => {
    names.push(command.constructor.name);
    return client.send(command as never);
  };
  return { send } as unknown as S3Client;
}

/** A photograph-like image: smooth gradients and a few shapes. */
async function scene(width: number, height: number, shift = 0): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2a6f97"/><stop offset="1" stop-color="#f4d35e"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width * 0.3 + shift}" cy="${height * 0.4}" r="${height * 0.2}" fill="#d62828"/>
    <rect x="${width * 0.6}" y="${height * 0.55}" width="${width * 0.25}" height="${height * 0.3}" fill="#003049"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

describe('fingerprint', () => {
  test('the perceptual hash of one picture at two sizes and qualities is near; of another picture, far', async () => {
    // GIVEN
    const big = await scene(1200, 800);
    const small = await sharp(big).resize(300).jpeg({ quality: 40 }).toBuffer();
    const other = await halves(1200, 800, BLUE, WHITE, 'jpeg');
    // WHEN
    const [a, b, c] = await Promise.all([big, small, other].map((x) => fingerprint(x, 40_000_000)));
    // THEN
    expect(a.perceptualHash).toMatch(/^[0-9a-f]{16}$/);
    expect(hammingDistance(a.perceptualHash, b.perceptualHash)).toBeLessThanOrEqual(6);
    expect(hammingDistance(a.perceptualHash, c.perceptualHash)).toBeGreaterThanOrEqual(16);
  });

  test('the dominant colour and the placeholder of a solid image are its colour', async () => {
    const f = await fingerprint(await solid(640, 480, TEAL, 'jpeg'), 40_000_000);
    const channel = (i: number) => parseInt(f.dominantColour.slice(1 + 2 * i, 3 + 2 * i), 16);
    // sharp's histogram has 16 levels a channel: the bin holding the colour
    expect(Math.abs(channel(0) - TEAL.r)).toBeLessThanOrEqual(16);
    expect(Math.abs(channel(1) - TEAL.g)).toBeLessThanOrEqual(16);
    expect(Math.abs(channel(2) - TEAL.b)).toBeLessThanOrEqual(16);
    expect(isBlurhashValid(f.blurHash).result).toBe(true);
    // the placeholder's mean colour (BlurHash quantizes its components; JPEG moves colours a little too)
    const pixels = decodeBlurHash(f.blurHash, 16, 12);
    const meanOf = (c: number) => pixels.filter((_, i) => i % 4 === c).reduce((a, b) => a + b, 0) / (16 * 12);
    expect(Math.abs(meanOf(0) - TEAL.r)).toBeLessThanOrEqual(8);
    expect(Math.abs(meanOf(1) - TEAL.g)).toBeLessThanOrEqual(8);
    expect(Math.abs(meanOf(2) - TEAL.b)).toBeLessThanOrEqual(8);
  });

  test('transparent pixels count as white, as a viewer shows them', async () => {
    const clear = await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    expect((await fingerprint(clear, 40_000_000)).dominantColour).toMatch(/^#f[0-9a-f]f[0-9a-f]f[0-9a-f]$/);
  });
});

describe('a processed upload with the manifest on', () => {
  test('the manifest lists every output with its bytes\' SHA-256, the input, and the fingerprint; the event carries it', async () => {
    // GIVEN
    const events = mockClient(EventBridgeClient);
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const cfg = config({
      manifest: true,
      events: { eventBusName: 'default' },
      variants: [{ name: 'small', width: 64, height: 64, format: 'png' }, { name: 'wide', width: 300, format: 'webp' }],
    });
    const p = new ImageProcessor(s3.client('p'), cfg, () => undefined, undefined, new EventBridgeClient({ region: 'us-east-1' }));
    const body = await scene(640, 480);
    const eTag = s3.upload(IN, KEY, body);
    try {
      // WHEN
      const outcome = await p.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: body.length, eTag, sequencer: '0010' }));

      // THEN
      expect(outcome.status).toBe('processed');
      expect(s3.keys(OUT)).toEqual([MANIFEST, 'small/photo.png', 'wide/photo.webp']);
      const stored = s3.object(OUT, MANIFEST)!;
      expect(stored.metadata['source-sequencer']).toBe('0010');
      const manifest = JSON.parse(stored.body.toString('utf8')) as Manifest;
      const digest = (key: string) => createHash('sha256').update(s3.object(OUT, key)!.body).digest('hex');
      expect(manifest).toMatchObject({
        version: 1,
        bucket: IN,
        key: KEY,
        eTag,
        sequencer: '0010',
        size: body.length,
        input: { format: 'jpeg', width: 640, height: 480 },
        outputs: [
          { variant: 'small', key: 'small/photo.png', format: 'png', width: 64, height: 64, bytes: s3.object(OUT, 'small/photo.png')!.body.length, sha256: digest('small/photo.png') },
          { variant: 'wide', key: 'wide/photo.webp', format: 'webp', width: 300, height: 225, bytes: s3.object(OUT, 'wide/photo.webp')!.body.length, sha256: digest('wide/photo.webp') },
        ],
        blurHash: expect.any(String),
        dominantColour: expect.stringMatching(/^#[0-9a-f]{6}$/),
        perceptualHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
      expect(manifest.labels).toBeUndefined();
      const detail = JSON.parse(events.commandCalls(PutEventsCommand)[0].args[0].input.Entries![0].Detail!);
      expect(detail.manifestKey).toBe(MANIFEST);
      expect(detail.manifest).toEqual(manifest);
    } finally {
      events.restore();
    }
  });

  test('the default (manifest off) writes no manifest and sends the same S3 requests as before manifests existed', async () => {
    const names: string[] = [];
    const p = new ImageProcessor(counting(s3.client('p'), names), config(), () => undefined);
    const body = await solid(320, 240, RED, 'jpeg');
    await p.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: body.length, eTag: s3.upload(IN, KEY, body), sequencer: '0010' }));
    expect(s3.keys(OUT)).toEqual(['grayscale-256/photo.jpg']);
    // the read, the output, the look for a failure record
    expect(names).toEqual(['GetObjectCommand', 'PutObjectCommand', 'HeadObjectCommand']);
  });

  test('a rejection after a success removes the older upload\'s manifest', async () => {
    const p = new ImageProcessor(s3.client('p'), config({ manifest: true }), () => undefined);
    const good = await solid(320, 240, RED, 'jpeg');
    await p.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: good.length, eTag: s3.upload(IN, KEY, good), sequencer: '0010' }));
    expect(s3.keys(OUT)).toContain(MANIFEST);
    const bad = Buffer.from('not an image');
    await p.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: bad.length, eTag: s3.upload(IN, KEY, bad), sequencer: '0011' }));
    expect(s3.keys(OUT)).toEqual(['_failed/photo.jpg.json']);
  });
});

describe('ordering: the newest upload\'s manifest wins', () => {
  test('an older event held before its manifest write, a newer one done meanwhile: the older takes everything back', async () => {
    // GIVEN
    const cfg = config({ manifest: true });
    const older = new ImageProcessor(s3.client('older'), cfg, () => undefined);
    const newer = new ImageProcessor(s3.client('newer'), cfg, () => undefined);
    const red = await solid(320, 240, RED, 'jpeg');
    const olderEvent = s3EventRecord({ bucket: IN, key: KEY, size: red.length, eTag: s3.upload(IN, KEY, red), sequencer: '0010' });
    // the older event writes its output, then waits before its manifest
    const output = s3.hold('older', 'PutObject');
    const pending = older.processRecord(olderEvent);
    await output.reached;
    output.release();
    const manifestWrite = s3.hold('older', 'PutObject');
    await manifestWrite.reached;

    // WHEN a newer upload is processed whole, then the older event goes on
    const blue = await solid(320, 240, BLUE, 'jpeg');
    await newer.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: blue.length, eTag: s3.upload(IN, KEY, blue), sequencer: '0011' }));
    manifestWrite.release();

    // THEN
    expect(await pending).toMatchObject({ status: 'skipped', why: expect.stringMatching(/superseded/) });
    expect(s3.keys(OUT)).toEqual([MANIFEST, 'grayscale-256/photo.jpg']);
    expect(JSON.parse(s3.object(OUT, MANIFEST)!.body.toString('utf8'))).toMatchObject({ sequencer: '0011' });
    expect(s3.object(OUT, 'grayscale-256/photo.jpg')!.metadata['source-sequencer']).toBe('0011');
  });

  test('an older event whose manifest write comes after the newer one\'s manifest is superseded there', async () => {
    const cfg = config({ manifest: true });
    const older = new ImageProcessor(s3.client('older'), cfg, () => undefined);
    const newer = new ImageProcessor(s3.client('newer'), cfg, () => undefined);
    const red = await solid(320, 240, RED, 'jpeg');
    const olderEvent = s3EventRecord({ bucket: IN, key: KEY, size: red.length, eTag: s3.upload(IN, KEY, red), sequencer: '0010' });
    // the older event has looked for a failure record and waits before its manifest
    const look = s3.hold('older', 'HeadObject');
    const pending = older.processRecord(olderEvent);
    await look.reached;
    const blue = await solid(320, 240, BLUE, 'jpeg');
    await newer.processRecord(s3EventRecord({ bucket: IN, key: KEY, size: blue.length, eTag: s3.upload(IN, KEY, blue), sequencer: '0011' }));
    look.release();
    expect((await pending).status).toBe('skipped');
    expect(JSON.parse(s3.object(OUT, MANIFEST)!.body.toString('utf8'))).toMatchObject({ sequencer: '0011' });
  });
});

describe('the event within EventBridge\'s 256 KB', () => {
  test('a manifest that would not fit is left out of the event, which names its key', () => {
    const huge = { key: 'k'.repeat(300 * 1024) } as unknown as Manifest;
    const detail = withManifest({ key: 'a' }, huge, 'm.json', 1024);
    expect(detail).toEqual({ key: 'a', manifestKey: 'm.json', manifestTruncated: true });
    expect(Buffer.byteLength(JSON.stringify(detail))).toBeLessThan(EVENT_ENTRY_LIMIT);
  });

  test('a manifest that fits rides whole', () => {
    const small = { key: 'photo.jpg' } as unknown as Manifest;
    expect(withManifest({ key: 'a' }, small, 'm.json', 1024)).toEqual({ key: 'a', manifestKey: 'm.json', manifest: small });
  });
});

test('the manifest key is the input key under _manifests/, less the input prefix', () => {
  expect(manifestKey({ inputPrefix: 'uploads/', outputPrefix: 'out/' }, 'uploads/a/b c.png')).toBe('out/_manifests/a/b c.png.json');
});
