/**
 * The local function has the deployed function's memory: the construct's default unless told
 * otherwise, so the handler's memory-budget refusals show locally as they would in Lambda.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { s3Client } from './serve-process';
import { shippedAssets } from '../lambda-src/local/assets';
import type { InvocationDone } from '../lambda-src/local/lambda/lambda-pool';
import { LocalPipeline, type LocalPipelineOptions } from '../lambda-src/local/local-pipeline';
import type { RecordOutcome } from '../lambda-src/processor';
import { memoryBudgetFor } from '../lambda-src/transform';
import { DEFAULTS } from '../src/contract';

jest.setTimeout(120_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs one upload through a fresh local pipeline: what the handler returned, and the failure record if any. */
async function once(options: Partial<LocalPipelineOptions>, key: string, body: Buffer): Promise<InvocationDone & { failureRecord?: string }> {
  const pipeline = new LocalPipeline({ dataDir: path.join(tmp, `data-${options.memorySizeMb ?? 'default'}`), retryAttempts: 0, ...options });
  const s3 = s3Client(await pipeline.start());
  try {
    const done = new Promise<InvocationDone>((resolve) => pipeline.once('done', resolve));
    await s3.send(new PutObjectCommand({ Bucket: 'input', Key: key, Body: body }));
    const d = await done;
    const rejected = ((d.result as { outcomes?: RecordOutcome[] }).outcomes ?? []).find((o) => o.status === 'rejected');
    if (!rejected || rejected.status !== 'rejected') return d;
    const record = await s3.send(new GetObjectCommand({ Bucket: 'output', Key: rejected.failureRecord }));
    return { ...d, failureRecord: await record.Body!.transformToString() };
  } finally {
    s3.destroy();
    await pipeline.stop(5_000);
  }
}

test('the function has the construct\'s default memory and timeout unless told otherwise', async () => {
  const handlerPath = path.join(tmp, 'env.js');
  fs.writeFileSync(handlerPath, `exports.handler = async (event, context) => ({
    memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, limit: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis() });`);
  const assets = { ...shippedAssets(), handlerPath };

  const byDefault = (await once({ assets }, 'a.jpg', Buffer.from('x'))).result as { memory: string; limit: string; remaining: number };
  expect(byDefault.memory).toBe(String(DEFAULTS.memorySizeMb));
  expect(byDefault.limit).toBe(String(DEFAULTS.memorySizeMb));
  expect(byDefault.remaining).toBeLessThanOrEqual(DEFAULTS.timeoutSeconds * 1000);
  expect(byDefault.remaining).toBeGreaterThan(DEFAULTS.timeoutSeconds * 1000 - 5_000);

  const small = (await once({ assets, memorySizeMb: 128 }, 'a.jpg', Buffer.from('x'))).result as { memory: string };
  expect(small.memory).toBe('128');
});

test('a 128 MB local function refuses the progressive 25 MP JPEG a 1769 MB one processes, as Lambda would', async () => {
  // A progressive JPEG is decoded whole: 5000x5000 at 4:2:0 holds about 72 MiB of coefficients.
  const body = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#808080' } })
    .jpeg({ progressive: true, quality: 50 }).toBuffer();

  const large = await once({ memorySizeMb: 1769 }, 'big.jpg', body);
  const small = await once({ memorySizeMb: 128 }, 'big.jpg', body);

  const [processed] = (large.result as { outcomes: RecordOutcome[] }).outcomes;
  expect(processed).toMatchObject({ status: 'processed', key: 'big.jpg' });
  const [refused] = (small.result as { outcomes: RecordOutcome[] }).outcomes;
  expect(refused).toMatchObject({ status: 'rejected', key: 'big.jpg', reason: 'too-many-pixels' });
  const budget = Math.ceil(memoryBudgetFor(128) / 1024 / 1024);
  expect(small.failureRecord).toContain(`more than the ${budget} MiB this function can spare for one image`);
});
