/**
 * Hostile inputs: each is refused for good with its own reason, a failure record and a metric,
 * without being retried, without running out of memory and without reaching out to the network.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as zlib from 'zlib';
import { GetObjectCommand, PutObjectCommand, S3Client, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import sharp from 'sharp';
import { truncatedWithEnd } from './images';
import { validatePipelineConfig } from '../../lambda-src/config';
import { ImageProcessor, type FailureRecord } from '../../lambda-src/processor';
import { ImageRejectedError, transformImage, type RejectReason } from '../../lambda-src/transform';

const config = (extra: Record<string, unknown> = {}) => validatePipelineConfig({ inputBucket: 'in', outputBucket: 'out', ...extra });

/* eslint-disable no-bitwise -- CRC-32 is bit arithmetic */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
/* eslint-enable no-bitwise */

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A valid PNG header declaring 30000x30000 RGB (2.7 GB decoded), with a few rows of data. */
function pngBomb(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = zlib.deflateSync(Buffer.alloc((30000 * 3 + 1) * 4));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

/** A 10x10 GIF whose screen and frame claim 30000x30000. */
async function gifBomb(): Promise<Buffer> {
  const b = Buffer.from(await sharp({ create: { width: 10, height: 10, channels: 3, background: '#f00' } }).gif().toBuffer());
  b.writeUInt16LE(30000, 6);
  b.writeUInt16LE(30000, 8);
  const descriptor = b.indexOf(0x2c, 13);
  b.writeUInt16LE(30000, descriptor + 5);
  b.writeUInt16LE(30000, descriptor + 7);
  return b;
}

/** An SVG that asks for a local file through an external entity and for a remote image. */
function nosySvg(origin: string): Buffer {
  return Buffer.from(`<?xml version="1.0"?>
<!DOCTYPE svg [ <!ENTITY secret SYSTEM "${origin}/entity"> <!ENTITY passwd SYSTEM "file:///etc/passwd"> ]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" height="100">
  <rect width="200" height="100" fill="#00ff00"/>
  <text x="10" y="50">&secret;&passwd;</text>
  <image x="0" y="0" width="200" height="100" href="${origin}/remote.png"/>
  <image x="0" y="0" width="200" height="100" xlink:href="${origin}/legacy.png"/>
</svg>`);
}

async function reason(input: Buffer, extra: Record<string, unknown> = {}): Promise<RejectReason> {
  try {
    await transformImage(input, config(extra));
  } catch (e) {
    if (e instanceof ImageRejectedError) return e.reason;
    throw e;
  }
  throw new Error('accepted');
}

describe('hostile inputs are refused, each with its reason', () => {
  let jpeg: Buffer;
  beforeAll(async () => {
    jpeg = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#123456', noise: { type: 'gaussian', mean: 100, sigma: 30 } } }).jpeg().toBuffer();
  });

  test.each<[string, () => Buffer | Promise<Buffer>, RejectReason]>([
    ['zero bytes', () => Buffer.alloc(0), 'empty-object'],
    ['a truncated JPEG', () => jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'corrupt-image'],
    ['a JPEG cut to 30% with an end marker appended', () => truncatedWithEnd(jpeg, 0.3), 'corrupt-image'],
    ['random bytes', () => Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 2654435761) % 256)), 'unsupported-format'],
    ['text named .jpg', () => Buffer.from('just some notes\n'.repeat(50)), 'unsupported-format'],
    ['HTML named .jpg', () => Buffer.from('<!doctype html><html><head><title>x.jpg</title></head><body><img src="x.jpg"></body></html>'), 'unsupported-format'],
    ['a 30000x30000 PNG bomb', pngBomb, 'too-many-pixels'],
    ['a 30000x30000 GIF bomb', gifBomb, 'too-many-pixels'],
    ['an SVG (not accepted by default)', () => nosySvg('http://127.0.0.1:9'), 'unsupported-format'],
  ])('%s', async (_what, make, expected) => {
    const started = Date.now();
    expect(await reason(await make())).toBe(expected);
    // refused from the header, not after a long decode
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('an accepted SVG cannot reach out', () => {
  let server: http.Server;
  let origin: string;
  const requests: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      res.end('<!ENTITY leaked "LEAKED">');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('neither the external entities nor the remote images are fetched', async () => {
    let outcome: string;
    try {
      const result = await transformImage(nosySvg(origin), config({ acceptedFormats: ['svg'] }));
      outcome = `rendered ${result.outputs[0].width}x${result.outputs[0].height}`;
    } catch (e) {
      outcome = `rejected ${(e as ImageRejectedError).reason}`;
    }
    // whether librsvg renders the rest or refuses the document, nothing was requested
    expect(outcome).toMatch(/^(rendered 256x256|rejected corrupt-image)$/);
    expect(requests).toEqual([]);
  });
});

describe('the handler on hostile uploads', () => {
  const s3 = mockClient(S3Client);

  beforeEach(() => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
  });

  test.each<[string, () => Buffer | Promise<Buffer>, RejectReason]>([
    ['a PNG bomb', pngBomb, 'too-many-pixels'],
    ['HTML named .jpg', () => Buffer.from('<html><body>404</body></html>'), 'unsupported-format'],
    ['random bytes', () => Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 97) % 256)), 'unsupported-format'],
  ])('%s: a failure record and a metric, and no retry', async (_what, make, expected) => {
    // GIVEN
    const body = await make();
    s3.on(GetObjectCommand).resolves({ Body: { transformToByteArray: async () => new Uint8Array(body) } as unknown as GetObjectCommandOutput['Body'] });
    const logs: Record<string, unknown>[] = [];
    const p = new ImageProcessor(new S3Client({ region: 'us-east-1' }), config(), (l) => logs.push(l), 64 * 1024 * 1024);

    // WHEN: it resolves (a throw would make Lambda retry)
    const outcomes = await p.handleEvent({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'in' }, object: { key: 'evil.jpg', size: body.length, eTag: 'e' } } }] });

    // THEN
    expect(outcomes).toEqual([expect.objectContaining({ status: 'rejected', reason: expected })]);
    const writes = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(writes.map((w) => w.Key)).toEqual(['_failed/evil.jpg.json']);
    expect((JSON.parse(String(writes[0].Body)) as FailureRecord).reason).toBe(expected);
    expect(logs.find((l) => l.ImagesRejected === 1)).toMatchObject({ Reason: expected });
  });

  test('zero bytes are refused from the event alone, without reading the object', async () => {
    const p = new ImageProcessor(new S3Client({ region: 'us-east-1' }), config(), () => undefined);
    const outcomes = await p.handleEvent({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'in' }, object: { key: 'empty.jpg', size: 0, eTag: 'e' } } }] });
    expect(outcomes).toEqual([expect.objectContaining({ status: 'rejected', reason: 'empty-object' })]);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});
