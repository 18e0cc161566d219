/**
 * `image-pipeline demo`: serve on a free port, upload generated sample images with an S3 client,
 * wait until each has its outputs or a failure record, report, and copy the outputs to a folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { RecordOutcome } from '../../processor';
import { decodeKey } from '../../s3-event';
import type { DeliveredEvent } from '../aws-api/event-bus';
import type { InvocationDone, InvocationFailed } from '../lambda/lambda-pool';
import { LocalPipeline } from '../local-pipeline';
import { formatBytes, table } from './term';

export interface Sample {
  readonly key: string;
  readonly body: Buffer;
  readonly note: string;
  /** True for the one the pipeline must refuse. */
  readonly broken?: boolean;
}

/** A photograph-like test card: smooth gradients, edges and fine texture, deterministic. */
async function testCard(width: number, height: number): Promise<sharp.Sharp> {
  const data = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 48271) % 2147483647;
      const grain = (seed % 17) - 8;
      const u = x / width;
      const v = y / height;
      const ring = Math.sin(Math.hypot(u - 0.6, v - 0.4) * 40) * 40;
      const sky = v < 0.55 + 0.08 * Math.sin(u * 9);
      const i = (y * width + x) * 3;
      data[i] = clamp((sky ? 90 + 80 * v : 60 + 70 * u) + ring + grain);
      data[i + 1] = clamp((sky ? 140 + 60 * v : 110 - 40 * v) + ring / 2 + grain);
      data[i + 2] = clamp((sky ? 220 - 40 * v : 50 + 30 * u) + grain);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function clamp(n: number): number {
  return n < 0 ? 0 : n > 255 ? 255 : Math.round(n);
}

/** The original system's three resolutions, a few awkward encodings, and one broken file. */
export async function makeSamples(): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const [w, h] of [[1200, 800], [1500, 997], [2040, 1536]]) {
    samples.push({ key: `photos/photo ${w}x${h}.jpg`, body: await (await testCard(w, h)).jpeg({ quality: 90 }).toBuffer(), note: `JPEG ${w}x${h}` });
  }
  const small = async () => testCard(640, 480);
  samples.push({
    key: 'photos/café+crème.png',
    note: 'PNG with alpha, unicode and + in the key',
    body: await (await small()).ensureAlpha(0.5).png().toBuffer(),
  });
  samples.push({
    key: 'photos/rotated-exif-6.jpg',
    note: 'JPEG with EXIF orientation 6',
    body: await (await small()).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  });
  samples.push({
    key: 'photos/print-cmyk.jpg',
    note: 'CMYK JPEG',
    body: await (await small()).toColourspace('cmyk').jpeg().toBuffer(),
  });
  samples.push({ key: 'photos/scan.tiff', note: 'TIFF', body: await (await small()).tiff().toBuffer() });
  samples.push({ key: 'photos/web.webp', note: 'WebP', body: await (await small()).webp().toBuffer() });
  samples.push({ key: 'photos/modern.avif', note: 'AVIF', body: await (await small()).avif({ effort: 0 }).toBuffer() });
  samples.push({ key: 'photos/sticker.gif', note: 'GIF', body: await (await small()).gif().toBuffer() });
  const whole = samples[0].body;
  samples.push({ key: 'photos/broken.jpg', note: 'a JPEG cut off after 2 KiB', broken: true, body: whole.subarray(0, 2048) });
  return samples;
}

interface Row {
  readonly sample: Sample;
  started?: number;
  ended?: number;
  outcome?: RecordOutcome;
  failure?: InvocationFailed;
}

export interface DemoOptions {
  readonly outDir: string;
  readonly concurrency?: number;
  readonly config?: Record<string, unknown>;
  readonly log?: (line: string) => void;
  /** The function's memory in MB. @default - the construct's default */
  readonly memorySizeMb?: number;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const wallStart = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-demo-'));
  const pipeline = new LocalPipeline({ dataDir, config: options.config, concurrency: options.concurrency, memorySizeMb: options.memorySizeMb });
  const endpoint = await pipeline.start();
  log(`S3 endpoint ${endpoint}: buckets "${pipeline.inputBucket}" (uploads) and "${pipeline.outputBucket}" (outputs); `
    + `the function has ${pipeline.memorySizeMb} MB`);
  if (pipeline.assets.layerProblem) log(`note: ${pipeline.assets.layerProblem}; sharp comes from this machine's own install`);

  const delivered: DeliveredEvent[] = [];
  pipeline.on('event', (e: DeliveredEvent) => delivered.push(e));

  const samples = await makeSamples();
  const rows = new Map<string, Row>(samples.map((s) => [s.key, { sample: s }]));
  const settled = new Promise<void>((resolve) => {
    let left = samples.length;
    const settle = (key: string, update: Partial<Row>) => {
      const row = rows.get(key);
      if (!row || row.ended !== undefined) return;
      Object.assign(row, update, { ended: Date.now() });
      if (--left === 0) resolve();
    };
    pipeline.on('done', (d: InvocationDone) => {
      const outcomes = (d.result as { outcomes?: RecordOutcome[] } | null)?.outcomes ?? [];
      for (const o of outcomes) settle(o.key, { outcome: o });
    });
    pipeline.on('failed', (f: InvocationFailed) => {
      const records = (f.event as { Records?: { s3: { object: { key: string } } }[] }).Records ?? [];
      for (const r of records) settle(decodeKey(r.s3.object.key), { failure: f });
    });
  });

  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
  });
  log(`uploading ${samples.length} images…`);
  await Promise.all(samples.map(async (s) => {
    rows.get(s.key)!.started = Date.now();
    await s3.send(new PutObjectCommand({ Bucket: pipeline.inputBucket, Key: s.key, Body: s.body, ContentType: contentTypeOf(s.key) }));
  }));
  // Bounded: whatever has not settled by then is reported as lost.
  await Promise.race([settled, new Promise((r) => setTimeout(r, 120_000).unref())]);

  // Copy everything the pipeline wrote to the output folder.
  fs.mkdirSync(options.outDir, { recursive: true });
  for (const key of pipeline.server.listKeys(pipeline.outputBucket)) {
    const res = await s3.send(new GetObjectCommand({ Bucket: pipeline.outputBucket, Key: key }));
    const file = path.join(options.outDir, ...key.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(await res.Body!.transformToByteArray()));
  }
  await pipeline.stop(5_000);
  s3.destroy();

  const report = [...rows.values()];
  log('');
  log(table(['key', 'input', 'result', 'outputs', 'latency'], report.map((r) => [
    r.sample.key,
    formatBytes(r.sample.body.length),
    r.outcome?.status === 'rejected' ? `rejected: ${r.outcome.reason}` : r.outcome?.status ?? (r.failure ? 'failure queue' : 'LOST'),
    r.outcome?.status === 'processed' ? r.outcome.outputs.map((o) => `${o.key} (${formatBytes(o.bytes)})`).join(', ')
      : r.outcome?.status === 'rejected' ? r.outcome.failureRecord : '-',
    r.ended !== undefined && r.started !== undefined ? `${r.ended - r.started} ms` : '-',
  ])));
  const processed = report.filter((r) => r.outcome?.status === 'processed').length;
  const rejected = report.filter((r) => r.outcome?.status === 'rejected').length;
  const queued = report.filter((r) => r.failure).length;
  const lost = report.filter((r) => r.ended === undefined).length;
  const latencies = report.filter((r) => r.ended !== undefined).map((r) => r.ended! - r.started!).sort((a, b) => a - b);
  const wall = (Date.now() - wallStart) / 1000;
  log('');
  log(`${samples.length} uploads: ${processed} processed, ${rejected} rejected with a failure record, `
    + `${queued} in the failure queue, ${lost} lost; latency p50 ${percentile(latencies, 0.5)} ms, max ${latencies[latencies.length - 1] ?? '-'} ms; `
    + `${wall.toFixed(1)} s wall time`);
  const byType = (t: string) => delivered.filter((e) => e['detail-type'] === t).length;
  log(`${delivered.length} EventBridge events: ${byType('ImageProcessed')} ImageProcessed, ${byType('ImageRejected')} ImageRejected`);
  log(`outputs copied to ${path.resolve(options.outDir)}`);
  fs.rmSync(dataDir, { recursive: true, force: true });

  // Every upload must end as outputs or a failure record, and only the broken one may be refused.
  const expected = report.every((r) => (r.sample.broken ? r.outcome?.status === 'rejected' : r.outcome?.status === 'processed'));
  return expected ? 0 : 1;
}

function percentile(sorted: number[], p: number): number | string {
  if (sorted.length === 0) return '-';
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function contentTypeOf(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1);
  return { jpg: 'image/jpeg', png: 'image/png', tiff: 'image/tiff', webp: 'image/webp', avif: 'image/avif', gif: 'image/gif' }[ext] ?? 'application/octet-stream';
}
