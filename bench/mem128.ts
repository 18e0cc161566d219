/**
 * Memory at 128 MB: the handler's transform (in a process that first loaded the handler bundle)
 * and the original Pillow transform on each 24 MP input in turn, under the limits of a 128 MB
 * function (bench/lambda-limits.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PILLOW_WORKER, PYTHON, nodeEnv, pythonEnv, type MachineInfo, type Workers } from './common';
import { largeSet, type Inputs } from './inputs';
import { jsonLines, type OnceImage, type OncePeak } from './jobs';
import { runLimited, type LimitedRun } from './lambda-limits';

export const MEM128_MB = 128;

export interface Mem128Run {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly oomKilled: boolean;
  /** Whether the cap was applied; if not, `how` says why and peakMb is the process's own. */
  readonly capped: boolean;
  readonly how: string;
  readonly cpuShare: number;
  /** The cgroup's peak (capped), else the process's RSS high-water mark; MiB. */
  readonly peakMb?: number;
  readonly limitHits?: number;
  readonly images: OnceImage[];
  readonly processPeakKb?: number;
  readonly stderr: string;
}

export interface Mem128 {
  readonly files: number;
  readonly ours: Mem128Run;
  readonly pillow?: Mem128Run;
}

function parse(r: LimitedRun): Mem128Run {
  const lines = jsonLines<OnceImage & OncePeak>(r.stdout);
  const processPeakKb = lines.find((l) => l.peakRssKb)?.peakRssKb;
  return {
    // As a shell reports it: 128 + the signal's number when killed (137: SIGKILL).
    status: r.status ?? (r.signal ? 128 + os.constants.signals[r.signal] : null),
    signal: r.signal,
    oomKilled: r.oomKilled,
    capped: r.applied,
    how: r.how,
    cpuShare: r.cpuShare,
    peakMb: r.applied ? r.peakMb : processPeakKb === undefined ? undefined : Math.floor(processPeakKb / 1024),
    limitHits: r.limitHits,
    images: lines.filter((l): l is OnceImage => 'file' in l),
    processPeakKb,
    stderr: (r.stderr ?? '').trim().split('\n').slice(-3).join(' / '),
  };
}

export function measureMem128(workers: Workers, taskDir: string, inputs: Inputs, env: MachineInfo): Mem128 {
  const files = largeSet(inputs).files.map((f) => f.file);
  // The handler's transform, in a process that has also loaded (initialised) the handler bundle.
  const preload = path.join(taskDir, 'preload.js');
  fs.writeFileSync(preload, `require(${JSON.stringify(path.join(taskDir, 'index.js'))});\n`);
  const ours = parse(runLimited(MEM128_MB, process.execPath, ['--require', preload, workers.transformWorker, 'once', ...files], {
    cwd: taskDir,
    env: nodeEnv({ PIPELINE_CONFIG: '{"outputBucket":"o"}', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEM128_MB), AWS_REGION: 'us-east-1' }),
    timeout: 180_000,
  }));
  process.stdout.write(`  ours: ${mem128Summary(ours)} (${ours.how})\n`);
  let pillow: Mem128Run | undefined;
  if (env.pillow) {
    pillow = parse(runLimited(MEM128_MB, PYTHON, [PILLOW_WORKER, 'once', ...files], { env: pythonEnv(), timeout: 180_000 }));
    process.stdout.write(`  Pillow: ${mem128Summary(pillow)}\n`);
  }
  return { files: files.length, ours, pillow };
}

/** One line for the log. */
export function mem128Summary(r: Mem128Run): string {
  const ok = r.images.filter((i) => i.ok).length;
  return `${ok}/${r.images.length} ok, peak ${r.peakMb ?? '-'} MiB, ${r.capped ? 'capped' : 'NOT capped'}${r.oomKilled ? ', killed: out of memory' : ''}`;
}
