/**
 * CPU time per image, one thread, of the shipped transform against the original Pillow transform
 * and Pillow-draft; the peak memory of the measuring processes; the outputs' difference (MAD).
 * With --explore, the candidate sharp pipelines (bench/explore.ts) in the same rounds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CACHE, JOBS, PILLOW_WORKER, PYTHON, nodeEnv, pythonEnv, rotate, run, sizeName, type MachineInfo, type Options, type Workers } from './common';
import { exploreJobs } from './explore';
import type { Inputs, Sharp } from './inputs';
import { jsonLines, writeJob, type CpuJob, type CpuJobResult } from './jobs';

/** One worker process of a round. */
export interface CpuJobSpec {
  readonly kind: 'node' | 'python';
  readonly impls: string[];
  /** 'main': each impl under its own name; 'candidates' and 'reference': exploration groups; else the group names the figure. */
  readonly group: string;
  readonly env?: Record<string, string>;
}

export interface CpuMeasurements {
  /** `${impl}@${size}` -> CPU ms per image, one per round. */
  readonly cpu: Record<string, number[]>;
  /** `${impl}@${size}` -> the process's peak and after-load RSS (KiB), one per round. */
  readonly mem: Record<string, { peak?: number; baseline?: number }[]>;
  /** `${impl}@${size}` -> mean output bytes. */
  readonly bytes: Record<string, number>;
  readonly outRoot: string;
}

function cpuJob(workers: Workers, spec: CpuJobSpec, files: string[], outDir: string | undefined, opts: Options, jobFile: string): CpuJobResult {
  const job: CpuJob = { impls: spec.impls, files, outDir, targetMs: opts.targetMs, minPasses: 1, maxPasses: 60 };
  writeJob(jobFile, job);
  const res = spec.kind === 'python'
    ? run(PYTHON, [PILLOW_WORKER, 'cpu', jobFile], { env: pythonEnv(spec.env) })
    : run(process.execPath, [workers.transformWorker, 'cpu', jobFile], { env: nodeEnv(spec.env) });
  if (res.status !== 0) throw new Error(`${spec.kind} worker (${spec.impls.join(', ')}) failed (${res.status}): ${res.stderr}`);
  const result = jsonLines<CpuJobResult>(res.stdout).pop();
  if (!result) throw new Error(`${spec.kind} worker (${spec.impls.join(', ')}) printed no result: ${res.stderr}`);
  return result;
}

export function measureCpu(workers: Workers, inputs: Inputs, opts: Options, env: MachineInfo): CpuMeasurements {
  const outRoot = path.join(CACHE, 'out');
  fs.rmSync(outRoot, { recursive: true, force: true });
  const cpu: Record<string, number[]> = {};
  const mem: Record<string, { peak?: number; baseline?: number }[]> = {};
  const bytes: Record<string, number> = {};
  const add = <T>(m: Record<string, T[]>, k: string, v: T) => (m[k] ??= []).push(v);
  for (let round = 0; round < opts.rounds; round++) {
    for (const set of inputs.sets) {
      const size = sizeName(set.size);
      const files = set.files.map((f) => f.file);
      const outDir = path.join(outRoot, size);
      const jobs: CpuJobSpec[] = [
        { kind: 'node', impls: ['ours'], group: 'main' },
        ...(env.pillow ? [
          { kind: 'python', impls: ['pillow'], group: 'main' },
          { kind: 'python', impls: ['pillow-draft'], group: 'main' },
        ] as CpuJobSpec[] : []),
        ...(opts.explore ? exploreJobs(round, env) : []),
      ];
      for (const spec of rotate(jobs, round)) {
        // Environment-level candidates run ours unchanged: same output, no copy kept.
        const jobFile = path.join(JOBS, `${size}-${spec.group}-${spec.impls[0]}.json`);
        const r = cpuJob(workers, spec, files, spec.env ? undefined : outDir, opts, jobFile);
        const { group } = spec;
        for (const x of r.results) {
          const name = group === 'candidates' && x.impl === 'ours' ? 'ours(in-process)' : ['main', 'candidates', 'reference'].includes(group) ? x.impl : group;
          add(cpu, `${name}@${size}`, x.cpuMsPerImage);
          bytes[`${name}@${size}`] = x.outBytes;
        }
        if (!['candidates', 'reference'].includes(group)) add(mem, `${group === 'main' ? spec.impls[0] : group}@${size}`, { peak: r.peakRssKb, baseline: r.baselineRssKb });
        if (r.sharpPath) env.workerSharp = r.sharpPath;
      }
      process.stdout.write(`  round ${round + 1}/${opts.rounds} ${size} done\n`);
    }
  }
  return { cpu, mem, bytes, outRoot };
}

/** Mean absolute difference (0-255) of two 256x256 outputs, decoded to one grey channel each. */
async function mad(sharp: Sharp, a: string, b: string): Promise<number> {
  const grey = async (file: string) => {
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    if (info.width !== 256 || info.height !== 256) throw new Error(`${file} is ${info.width}x${info.height}, not 256x256`);
    const out = new Float64Array(256 * 256);
    const c = info.channels;
    for (let i = 0; i < out.length; i++) {
      let s = 0;
      for (let j = 0; j < Math.min(c, 3); j++) s += data[i * c + j];
      out[i] = s / Math.min(c, 3);
    }
    return out;
  };
  const [x, y] = await Promise.all([grey(a), grey(b)]);
  let d = 0;
  for (let i = 0; i < x.length; i++) d += Math.abs(x[i] - y[i]);
  return d / x.length;
}

/** `${impl}@${size}` -> mean MAD over the photos of that size against `reference`'s outputs. */
export async function measureQuality(
  sharp: Sharp, inputs: Inputs, outRoot: string, impls: string[], reference: string,
): Promise<Record<string, number>> {
  const q: Record<string, number> = {};
  for (const set of inputs.sets) {
    const size = sizeName(set.size);
    for (const impl of impls) {
      if (impl === reference) continue;
      const ds: number[] = [];
      for (const f of set.files) {
        const a = path.join(outRoot, size, impl, path.basename(f.file));
        const b = path.join(outRoot, size, reference, path.basename(f.file));
        if (fs.existsSync(a) && fs.existsSync(b)) ds.push(await mad(sharp, a, b));
      }
      if (ds.length) q[`${impl}@${size}`] = ds.reduce((s, d) => s + d, 0) / ds.length;
    }
  }
  return q;
}
