/**
 * The cost model behind the default memorySize: the shipped transform's wall time per image under
 * the limits of a 128, 256, 512, 1024 and 1769 MB function (bench/lambda-limits.ts: memory capped
 * at MEM, CPU at MEM/1769 of a core, as Lambda allots it), turned into GB-seconds and a price per
 * million images (the worker: bench/cost-worker.ts). Measures; asserts nothing.
 */
import * as path from 'path';
import { JOBS, nodeEnv, sizeName, type Options, type Workers } from './common';
import type { Inputs } from './inputs';
import { jsonLines, writeJob, type CostJob, type CostResult } from './jobs';
import { describe, runLimited } from './lambda-limits';

export const COST_MEMORY_MB = [128, 256, 512, 1024, 1769];

/** Inputs of the model, not measurements: AWS Lambda list prices, US East (N. Virginia), first tier. */
export const PRICE = { arm64: 0.0000133334, x86_64: 0.0000166667, requestsPerMillion: 0.2 };

export interface CostRow {
  readonly mem: number;
  readonly share: number;
  /** Wall ms per image, median of the rounds. */
  readonly ms: number;
  readonly gbs: number;
  /** The cgroup's peak MiB over the rounds (undefined when not capped). */
  readonly peak?: number;
  /** $ per million images. */
  readonly arm: number;
  readonly x86: number;
  /** Whether the memory cap and CPU share were applied; if not, `how` says why. */
  readonly capped: boolean;
  readonly how: string;
}

export interface CostModel {
  readonly size: string;
  readonly files: number;
  readonly rounds: number;
  readonly rows: CostRow[];
}

export function measureCost(workers: Workers, inputs: Inputs, opts: Options): CostModel {
  const set = inputs.sets.find((s) => sizeName(s.size) === opts.costSize);
  if (!set) throw new Error(`--cost-size ${opts.costSize}: not one of ${inputs.sets.map((s) => sizeName(s.size)).join(', ')}`);
  const files = set.files.map((f) => f.file);
  const rows: CostRow[] = [];
  for (const mem of COST_MEMORY_MB) {
    const job: CostJob = { memoryMb: mem, files };
    const jobFile = writeJob(path.join(JOBS, `cost-${mem}.json`), job);
    const samples: number[] = [];
    let peak: number | undefined;
    let capped = true;
    let how = '';
    for (let r = 0; r < opts.rounds; r++) {
      const res = runLimited(mem, process.execPath, [workers.cost, jobFile], { env: nodeEnv() });
      if (res.status !== 0) throw new Error(`cost model at ${mem} MB failed (${describe(res)}): ${res.stderr}`);
      const result = jsonLines<CostResult>(res.stdout).pop();
      if (!result) throw new Error(`cost model at ${mem} MB printed no result: ${res.stderr}`);
      samples.push(result.wallMsPerImage);
      if (res.peakMb !== undefined) peak = Math.max(peak ?? 0, res.peakMb);
      capped &&= res.applied;
      how = res.how;
    }
    // The middle sample (the upper middle of an even count).
    const ms = [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)];
    const gbs = (ms / 1000) * (mem / 1024);
    rows.push({
      mem,
      share: Math.min(1, mem / 1769),
      ms,
      gbs,
      peak,
      capped,
      how,
      arm: 1e6 * gbs * PRICE.arm64 + PRICE.requestsPerMillion,
      x86: 1e6 * gbs * PRICE.x86_64 + PRICE.requestsPerMillion,
    });
    process.stdout.write(`  ${mem} MB: ${ms.toFixed(1)} ms per image${capped ? '' : ' (NOT capped)'}\n`);
  }
  return { size: opts.costSize, files: files.length, rounds: opts.rounds, rows };
}
