/**
 * The local Lambda runner on its own: the context an invocation gets, with a stand-in handler run
 * by the shipped worker bundle.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { shippedAssets } from '../lambda-src/local/assets';
import { LambdaPool, type InvocationDone, type InvocationFailed } from '../lambda-src/local/lambda/lambda-pool';

jest.setTimeout(30_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-runner-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs one event through a pool of one environment and returns what the handler returned. */
async function invokeOnce(handlerSource: string, timeoutMs?: number): Promise<unknown> {
  const handlerPath = path.join(tmp, 'handler.js');
  fs.writeFileSync(handlerPath, handlerSource);
  const pool = new LambdaPool({
    handlerPath,
    workerPath: shippedAssets().workerPath,
    layerPaths: [],
    environment: {},
    failureQueueDir: path.join(tmp, 'failure-queue'),
    concurrency: 1,
    retryAttempts: 0,
    timeoutMs,
  });
  try {
    const outcome = new Promise<unknown>((resolve, reject) => {
      pool.once('done', (d: InvocationDone) => resolve(d.result));
      pool.once('failed', (f: InvocationFailed) => reject(new Error(f.record.responsePayload.errorMessage)));
    });
    pool.invoke({});
    return await outcome;
  } finally {
    await pool.shutdown(1_000);
  }
}

describe('the context of an invocation', () => {
  // The handler reads the remaining time, waits 300 ms by its own timer, and reads it again.
  const readTwice = `
    exports.handler = async (event, context) => {
      const first = context.getRemainingTimeInMillis();
      await new Promise((r) => setTimeout(r, 300));
      const second = context.getRemainingTimeInMillis();
      return { first, second };
    };`;

  test('getRemainingTimeInMillis counts down from the configured timeout', async () => {
    const { first, second } = await invokeOnce(readTwice, 5_000) as { first: number; second: number };
    expect(first).toBeLessThanOrEqual(5_000);
    expect(first).toBeGreaterThan(5_000 - 2_000);
    // At least the 300 ms the handler waited (less a few milliseconds of timer rounding) have gone.
    expect(first - second).toBeGreaterThanOrEqual(295);
    expect(second).toBeGreaterThan(0);
  });

  test('getRemainingTimeInMillis starts from 30 s when no timeout is set', async () => {
    const { first, second } = await invokeOnce(readTwice) as { first: number; second: number };
    expect(first).toBeLessThanOrEqual(30_000);
    expect(first).toBeGreaterThan(30_000 - 2_000);
    expect(first - second).toBeGreaterThanOrEqual(295);
  });
});
