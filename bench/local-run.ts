/**
 * A fresh LocalPipeline in a temporary folder and an S3 client pointed at it, for the benchmarks
 * that go through the local mode (burst.ts, handler-cost.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { S3Client } from '@aws-sdk/client-s3';
import type { LocalRunAssets } from './jobs';
import { LocalPipeline } from '../lambda-src/local/local-pipeline';

export interface LocalRun {
  readonly pipeline: LocalPipeline;
  readonly s3: S3Client;
  /** Stops the pipeline and removes its folder. */
  close(): Promise<void>;
}

export async function startLocalRun(assets: LocalRunAssets, concurrency: number, config?: Record<string, unknown>): Promise<LocalRun> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-bench-'));
  const pipeline = new LocalPipeline({
    dataDir,
    concurrency,
    config,
    assets: { handlerPath: assets.handlerPath, workerPath: assets.workerPath, layerPath: assets.layerPath },
  });
  const endpoint = await pipeline.start();
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  return {
    pipeline,
    s3,
    close: async () => {
      await pipeline.stop(2_000);
      s3.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
