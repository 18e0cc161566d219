/**
 * The newest upload of a key always wins, whatever order its events run in: the order is
 * injected by holding one event's S3 command until the other event is done.
 */
import { FakeS3 } from './fake-s3';
import { BLUE, mean, RED, solid } from './images';
import { validatePipelineConfig, type PipelineConfig } from '../../lambda-src/config';
import { ImageProcessor, possibleOutputKeys, type RecordOutcome } from '../../lambda-src/processor';
import { s3EventRecord, type S3EventRecord } from '../../lambda-src/s3-event';

const IN = 'in';
const OUT = 'out';
const KEY = 'uploads/photo.jpg';
const OUTPUT = 'grayscale-256/photo.jpg';
const FAILURE = '_failed/photo.jpg.json';

let s3: FakeS3;
beforeEach(() => { s3 = new FakeS3(); });
afterEach(() => s3.restore());

function config(extra: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({ inputBucket: IN, outputBucket: OUT, inputPrefix: 'uploads/', ...extra });
}

function record(key: string, eTag: string, sequencer: string, size = 100): S3EventRecord {
  return s3EventRecord({ bucket: IN, key, size, eTag, sequencer });
}

type Kind = 'good' | 'bad';

/** The two uploads of KEY: the older red, the newer blue; or bytes that are no image. */
async function body(kind: Kind, colour: typeof RED): Promise<Buffer> {
  return kind === 'good' ? solid(320, 240, colour, 'jpeg') : Buffer.from(`not an image ${colour.r}`);
}

interface Race {
  older: ImageProcessor;
  newer: ImageProcessor;
  olderLogs: Record<string, unknown>[];
  /** Uploads the older version and returns its event. */
  uploadOlder: () => Promise<S3EventRecord>;
  uploadNewer: () => Promise<S3EventRecord>;
}

function race(kinds: [Kind, Kind], cfg = config()): Race {
  const olderLogs: Record<string, unknown>[] = [];
  return {
    older: new ImageProcessor(s3.client('older'), cfg, (e) => olderLogs.push(e)),
    newer: new ImageProcessor(s3.client('newer'), cfg, () => undefined),
    olderLogs,
    uploadOlder: async () => record(KEY, s3.upload(IN, KEY, await body(kinds[0], RED)), '0055AED6DCD90281E5'),
    // one digit longer: S3 compares sequencers left-padded with zeros
    uploadNewer: async () => record(KEY, s3.upload(IN, KEY, await body(kinds[1], BLUE)), '00A55AED6DCD90281E5'),
  };
}

/** The output bucket holds the newer upload's result, and nothing of the older one's. */
async function expectNewerWon(newerKind: Kind, cfg = config()): Promise<void> {
  const present = s3.keys(OUT);
  if (newerKind === 'good') {
    expect(present).toEqual([OUTPUT]);
    const out = s3.object(OUT, OUTPUT)!;
    expect(out.metadata['source-sequencer']).toBe('00A55AED6DCD90281E5');
    // blue, not red, in grayscale (libvips' b-w makes red about 127 and blue about 75)
    const [grey] = await mean(out.body);
    expect(Math.abs(grey - 75)).toBeLessThan(10);
  } else {
    expect(present).toEqual([FAILURE]);
    const rec = JSON.parse(s3.object(OUT, FAILURE)!.body.toString('utf8'));
    expect(rec).toMatchObject({ key: KEY, sequencer: '00A55AED6DCD90281E5' });
    expect(possibleOutputKeys(cfg, KEY).filter((k) => present.includes(k))).toEqual([]);
  }
}

const KINDS: [Kind, Kind][] = [['good', 'good'], ['good', 'bad'], ['bad', 'good'], ['bad', 'bad']];

describe.each(KINDS)('an older %s upload and a newer %s upload of one key', (olderKind, newerKind) => {
  test('in order: the newer replaces the older', async () => {
    const r = race([olderKind, newerKind]);
    await r.older.processRecord(await r.uploadOlder());
    await r.newer.processRecord(await r.uploadNewer());
    await expectNewerWon(newerKind);
  });

  test('the older event writes after the newer one is done: it is superseded', async () => {
    const r = race([olderKind, newerKind]);
    // the older event has read its object; its first write waits
    const hold = s3.hold('older', 'PutObject');
    const older = r.older.processRecord(await r.uploadOlder());
    await hold.reached;
    await r.newer.processRecord(await r.uploadNewer());
    hold.release();
    expect(await older).toMatchObject({ status: 'skipped', why: expect.stringMatching(/superseded/) });
    await expectNewerWon(newerKind);
  });

  test('the older event checks the other kind of result after the newer one is done', async () => {
    const r = race([olderKind, newerKind]);
    // the older event has written its result; its look at the other kind of result waits
    const hold = s3.hold('older', 'HeadObject');
    const older = r.older.processRecord(await r.uploadOlder());
    await hold.reached;
    await r.newer.processRecord(await r.uploadNewer());
    hold.release();
    await older;
    await expectNewerWon(newerKind);
  });

  test('the newer event checks the other kind of result after the older one is done', async () => {
    const r = race([olderKind, newerKind]);
    const olderWrite = s3.hold('older', 'PutObject');
    const older = r.older.processRecord(await r.uploadOlder());
    await olderWrite.reached;
    // the newer event has written its result; its look at the other kind of result waits
    const newerCheck = s3.hold('newer', 'HeadObject');
    const newer = r.newer.processRecord(await r.uploadNewer());
    await newerCheck.reached;
    olderWrite.release();
    const olderOutcome: RecordOutcome = await older;
    newerCheck.release();
    await newer;
    expect(olderOutcome.status).toBe('skipped');
    await expectNewerWon(newerKind);
  });

  test('the older event reads after the newer upload: its eTag no longer matches and it is skipped', async () => {
    const r = race([olderKind, newerKind]);
    const olderEvent = await r.uploadOlder();
    await r.newer.processRecord(await r.uploadNewer());
    const outcome = await r.older.processRecord(olderEvent);
    // a bad older upload is refused from its event's size alone only when it is empty; here it is read
    expect(outcome.status).toBe('skipped');
    await expectNewerWon(newerKind);
  });
});

describe('several variants', () => {
  const cfg = config({
    variants: [
      { name: 'small', width: 64, height: 64, format: 'png' },
      { name: 'same', width: 100, format: 'original' },
    ],
  });

  test('a rejection after a success removes every output of the older upload, whatever its format', async () => {
    const r = race(['good', 'bad'], cfg);
    await r.older.processRecord(await r.uploadOlder());
    expect(s3.keys(OUT)).toEqual(['same/photo.jpg', 'small/photo.png']);
    await r.newer.processRecord(await r.uploadNewer());
    expect(s3.keys(OUT)).toEqual([FAILURE]);
  });

  test('an older event superseded between two variants takes back the variant it wrote', async () => {
    const r = race(['good', 'bad'], cfg);
    const olderEvent = await r.uploadOlder();
    // the older event writes its first variant, then waits before its second
    const first = s3.hold('older', 'PutObject');
    const older = r.older.processRecord(olderEvent);
    await first.reached;
    first.release();
    const second = s3.hold('older', 'PutObject');
    await second.reached;
    await r.newer.processRecord(await r.uploadNewer());
    second.release();
    expect(await older).toMatchObject({ status: 'skipped' });
    expect(s3.keys(OUT)).toEqual([FAILURE]);
  });
});

describe('two input keys that share an output key', () => {
  test('the second replaces the first, and the collision is logged and counted', async () => {
    const logs: Record<string, unknown>[] = [];
    const p = new ImageProcessor(s3.client('p'), config(), (e) => logs.push(e));
    const jpg = s3.upload(IN, 'uploads/a.jpg', await solid(64, 64, RED, 'jpeg'));
    const png = s3.upload(IN, 'uploads/a.png', await solid(64, 64, BLUE, 'png'));
    await p.processRecord(record('uploads/a.jpg', jpg, '0010'));
    expect(logs.filter((l) => /collision/.test(String(l.message)))).toEqual([]);
    await p.processRecord(record('uploads/a.png', png, '0011'));

    expect(s3.keys(OUT)).toEqual(['grayscale-256/a.jpg']);
    expect(decodeURIComponent(s3.object(OUT, 'grayscale-256/a.jpg')!.metadata['source-key'])).toBe('uploads/a.png');
    expect(logs).toContainEqual(expect.objectContaining({
      level: 'WARN', message: expect.stringMatching(/collision/), outputKey: 'grayscale-256/a.jpg', otherInputKey: 'uploads/a.jpg',
    }));
    const metric = logs.find((l) => l._aws !== undefined && 'OutputKeyCollisions' in l);
    expect(metric).toMatchObject({ OutputKeyCollisions: 1 });
  });

  test('the same key uploaded again is no collision', async () => {
    const logs: Record<string, unknown>[] = [];
    const p = new ImageProcessor(s3.client('p'), config(), (e) => logs.push(e));
    const first = s3.upload(IN, KEY, await solid(64, 64, RED, 'jpeg'));
    await p.processRecord(record(KEY, first, '0010'));
    const second = s3.upload(IN, KEY, await solid(64, 64, BLUE, 'jpeg'));
    await p.processRecord(record(KEY, second, '0011'));
    expect(logs.filter((l) => /collision/.test(String(l.message)) || 'OutputKeyCollisions' in l)).toEqual([]);
  });
});

describe('long keys', () => {
  test('a key of 1024 UTF-8 bytes is processed, its output metadata within S3\'s 2 KB', async () => {
    // 'uploads/' + 338 CJK characters (3 bytes each) + '.jpg' = 1026 bytes: trim to 1024
    const name = '写'.repeat(337);
    const key = `uploads/${name}.jpg`;
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
    const eTag = s3.upload(IN, key, await solid(64, 64, RED, 'jpeg'));
    expect(await p.processRecord(record(key, eTag, '0010'))).toMatchObject({ status: 'processed' });
    const md = s3.object(OUT, `grayscale-256/${name}.jpg`)!.metadata;
    const bytes = Object.entries(md).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    expect(bytes).toBeLessThanOrEqual(2048);
    expect(md['source-key-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a short key keeps its readable source-key', async () => {
    const p = new ImageProcessor(s3.client('p'), config(), () => undefined);
    const eTag = s3.upload(IN, 'uploads/ü b.jpg', await solid(64, 64, RED, 'jpeg'));
    await p.processRecord(record('uploads/ü b.jpg', eTag, '0010'));
    expect(decodeURIComponent(s3.object(OUT, 'grayscale-256/ü b.jpg')!.metadata['source-key'])).toBe('uploads/ü b.jpg');
  });
});
