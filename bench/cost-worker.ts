/**
 * Runs the shipped transform over the job's files with the handler's settings for its memory size
 * (libvips threads and memory budget), once to warm up, then once more timed; prints a CostResult.
 * Run by bench/cost-model.ts under that memory size's limits.
 *
 *   node cost-worker.js JOB.json
 */
import * as fs from 'fs';
import { emit, readJob, type CostJob, type CostResult } from './jobs';
import { validatePipelineConfig } from '../lambda-src/config';
import { configureSharp, memoryBudgetFor, transformImage } from '../lambda-src/transform';

async function main(): Promise<void> {
  const job = readJob<CostJob>(process.argv[2]);
  const mem = job.memoryMb;
  configureSharp(Math.ceil(mem / 1769));
  const policy = { ...validatePipelineConfig({ outputBucket: 'o' }), memoryBudgetBytes: memoryBudgetFor(mem) };
  const inputs = job.files.map((f) => fs.readFileSync(f));
  for (const b of inputs) await transformImage(b, policy);
  const started = process.hrtime.bigint();
  for (const b of inputs) await transformImage(b, policy);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  emit<CostResult>({ wallMsPerImage: ms / inputs.length });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(2);
});
