/**
 * Runs the shipped transform over the given files with the handler's settings for MEM megabytes
 * (libvips threads and memory budget), once to warm up, then once more timed; prints
 * {"wallMsPerImage": ...}. Run by bench/cost-model.js under lambda-sim.
 *
 *   node cost-worker.js MEM FILE...
 */
import * as fs from 'fs';
import { validatePipelineConfig } from '../lambda-src/config';
import { configureSharp, memoryBudgetFor, transformImage } from '../lambda-src/transform';

async function main(): Promise<void> {
  const [memArg, ...files] = process.argv.slice(2);
  const mem = Number(memArg);
  configureSharp(Math.ceil(mem / 1769));
  const policy = { ...validatePipelineConfig({ outputBucket: 'o' }), memoryBudgetBytes: memoryBudgetFor(mem) };
  const inputs = files.map((f) => fs.readFileSync(f));
  for (const b of inputs) await transformImage(b, policy);
  const started = process.hrtime.bigint();
  for (const b of inputs) await transformImage(b, policy);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ wallMsPerImage: ms / inputs.length })}\n`);
}

void main();
