/**
 * Memory at 128, 256 and 512 MB: the handler process's baseline, and the largest input it accepts
 * in each format, processed by the whole handler (bundle, layer, S3 client) under the memory cap
 * and CPU share of a function of that size (bench/lambda-limits.ts).
 *
 * The largest accepted input is found by search, not assumed: for each format, the dimensions grow
 * (3:2, on a geometric grid of megapixels, content made from the bench's 24 MP input) until the
 * handler's own checks before decoding (`checkInput`, with the memory budget the handler gives
 * itself at that memory size) refuse; the largest accepted and the smallest refused then each run
 * through the handler in a fresh process, after one tiny image, as Lambda would run them. Each
 * must be processed, or refused by those checks, and never killed; the time is the handler's, at
 * that memory's CPU share, against the default 30 s timeout.
 */
import * as childProcess from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { BENCH, CACHE, HANDLER, LAYER, fmt, log, nodeEnv, table } from './common';
import { largeSet, prepareInputs, type Inputs, type Sharp } from './inputs';
import { jsonLines, type MemHandled, type MemPeak } from './jobs';
import { describe as describeRun, runLimited } from './lambda-limits';
import { lambdaTaskDir, layerSharp } from './setup';
import { validatePipelineConfig } from '../lambda-src/config';
import { checkInput, ImageRejectedError, memoryBudgetFor, BASELINE_MEMORY_MB } from '../lambda-src/transform';
import { DEFAULTS } from '../src/contract';

export const MEMORY_SIZES = [128, 256, 512];

/**
 * The handler process's memory before its first image in a 128 MB Lambda function on Node.js 24,
 * as Lambda reported it (Max Memory Used), MiB. A cgroup v1 cap here charges the process only for
 * the pages it faults first (not the node binary and libraries other processes already hold), so
 * each run holds a ballast that brings its measured baseline up to this: the cap then kills where
 * Lambda would.
 */
export const LAMBDA_BASELINE_MB = 91;

type SharpImage = ReturnType<Sharp>;

/** The encodings measured: what a camera, a phone or an export dialog writes. */
const FORMATS: { name: string; ext: string; encode: (img: SharpImage) => SharpImage }[] = [
  { name: 'baseline JPEG (q90)', ext: 'jpg', encode: (i) => i.jpeg({ quality: 90 }) },
  { name: 'progressive JPEG (q90)', ext: 'jpg', encode: (i) => i.jpeg({ quality: 90, progressive: true }) },
  { name: 'PNG', ext: 'png', encode: (i) => i.png() },
  { name: 'interlaced PNG', ext: 'png', encode: (i) => i.png({ progressive: true }) },
  { name: 'WebP (lossy, q80)', ext: 'webp', encode: (i) => i.webp({ quality: 80 }) },
  { name: 'WebP (lossless)', ext: 'webp', encode: (i) => i.webp({ lossless: true, effort: 0 }) },
  { name: 'AVIF (q50)', ext: 'avif', encode: (i) => i.avif({ quality: 50, effort: 0 }) },
  { name: 'TIFF (LZW)', ext: 'tif', encode: (i) => i.tiff({ compression: 'lzw' }) },
  { name: 'GIF', ext: 'gif', encode: (i) => i.gif({ effort: 1 }) },
];

/** Megapixels tried: 0.5 x 1.1^k up to the default maxInputPixels, then one step past it. */
function grid(): number[] {
  const max = DEFAULTS.maxInputPixels / 1e6;
  const g: number[] = [];
  for (let mp = 0.5; mp < max; mp *= 1.1) g.push(mp);
  g.push(max, max * 1.01);
  return g;
}

function dims(mp: number): [number, number] {
  const max = DEFAULTS.maxInputPixels;
  let w = Math.round(Math.sqrt((mp * 1e6 * 3) / 2));
  let h = Math.round((w * 2) / 3);
  // The grid's top point: the largest 3:2 frame within maxInputPixels.
  while (mp * 1e6 <= max && w * h > max) {
    w--;
    h = Math.round((w * 2) / 3);
  }
  return [w, h];
}

export interface MemCase {
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  /** What the handler's checks before decoding say (in this process, no cap). */
  readonly check: string;
  /** The capped run: outcome, peak and time. */
  readonly run?: MemRun;
}

export interface MemRun {
  readonly status: string;
  readonly reason?: string;
  readonly ms?: number;
  /** The cgroup's peak, MiB. */
  readonly peakMb?: number;
  /** The process's RSS high-water mark (VmHWM) after the image, MiB. */
  readonly rssPeakMb?: number;
  readonly capped: boolean;
  readonly oomKilled: boolean;
  readonly exit: string;
}

export interface MemFormatRow {
  readonly memoryMb: number;
  readonly format: string;
  readonly accepted?: MemCase;
  readonly refused?: MemCase;
}

export interface MemBaseline {
  readonly memoryMb: number;
  readonly peakMb?: number;
  readonly rssMb?: number;
  /** Held through every run at this size: LAMBDA_BASELINE_MB less the measured cgroup baseline. */
  readonly ballastMb: number;
  readonly peakWithBallastMb?: number;
  readonly capped: boolean;
  readonly how: string;
  readonly cpuShare: number;
}

export interface MemLimits {
  readonly node: string;
  readonly baselineConstantMb: number;
  readonly baselines: MemBaseline[];
  readonly rows: MemFormatRow[];
  readonly source: string;
}

/** Lambda's Node.js bootstrap runs node with these flags (new space a tenth of the memory). */
function lambdaNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return ['--expose-gc', '--max-http-header-size', '81920', `--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}

async function bundleWorker(): Promise<string> {
  const out = path.join(CACHE, 'build', 'mem-worker.js');
  await esbuild.build({ entryPoints: [path.join(BENCH, 'mem-worker.ts')], bundle: true, platform: 'node', target: 'node20', outfile: out, logLevel: 'warning' });
  return out;
}

/** Starts the stand-in S3 endpoint (outside the measured process); resolves to its URL and a stop. */
function startEndpoint(worker: string, dir: string): Promise<{ url: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(process.execPath, [worker, 'serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout.once('data', (d: Buffer) => {
      const { port } = JSON.parse(String(d).split('\n')[0]) as { port: number };
      const stop = () => child.kill();
      process.once('exit', stop);
      resolve({ url: `http://127.0.0.1:${port}`, stop });
    });
  });
}

export async function measureMemLimits(sharp: Sharp, inputs: Inputs, taskHandler: string = HANDLER): Promise<MemLimits> {
  const worker = await bundleWorker();
  const dir = path.join(CACHE, 'mem-limits');
  fs.mkdirSync(dir, { recursive: true });
  const source = largeSet(inputs).files[0].file;
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } }).jpeg().toFile(path.join(dir, 'tiny.jpg'));
  const endpoint = await startEndpoint(worker, dir);
  const config = validatePipelineConfig({ inputBucket: 'in', outputBucket: 'out' });

  const runHandler = (memoryMb: number, keys: string[], ballastMb = 0) => {
    const r = runLimited(memoryMb, process.execPath, [...lambdaNodeFlags(memoryMb), worker, 'handle', taskHandler, ...keys], {
      env: nodeEnv({
        NODE_PATH: LAYER,
        MEM_BENCH_DIR: dir,
        MEM_BENCH_BALLAST_MB: String(ballastMb),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
        AWS_LAMBDA_FUNCTION_NAME: 'bench',
        PIPELINE_S3_ENDPOINT: endpoint.url,
        PIPELINE_EVENTS_ENDPOINT: endpoint.url,
        PIPELINE_CONFIG: JSON.stringify({ inputBucket: 'in', outputBucket: 'out', events: { eventBusName: 'default' } }),
      }),
      timeout: 300_000,
    });
    const lines = jsonLines<MemHandled & MemPeak>(r.stdout);
    return { r, handled: lines.filter((l): l is MemHandled => 'rssHwmKb' in l), peak: lines.find((l) => l.peakRssKb !== undefined)?.peakRssKb };
  };

  try {
    const baselines: MemBaseline[] = [];
    const ballast = new Map<number, number>();
    for (const memoryMb of MEMORY_SIZES) {
      const { r, handled, peak } = runHandler(memoryMb, ['tiny.jpg']);
      const ok = handled[0]?.status === 'processed';
      ballast.set(memoryMb, r.applied && r.peakMb !== undefined ? Math.max(0, LAMBDA_BASELINE_MB - r.peakMb) : 0);
      const withBallast = runHandler(memoryMb, ['tiny.jpg'], ballast.get(memoryMb));
      baselines.push({
        memoryMb,
        peakMb: r.peakMb,
        rssMb: peak === undefined ? undefined : Math.round(peak / 1024),
        ballastMb: ballast.get(memoryMb)!,
        peakWithBallastMb: withBallast.r.peakMb,
        capped: r.applied,
        how: r.how,
        cpuShare: r.cpuShare,
      });
      log(`  baseline at ${memoryMb} MB: ${ok ? 'tiny image processed' : `NOT processed: ${JSON.stringify(handled[0] ?? r.stderr.slice(-300))}`}; `
        + `RSS high-water mark ${peak === undefined ? '-' : Math.round(peak / 1024)} MiB; ${describeRun(r)}; `
        + `with a ${ballast.get(memoryMb)} MiB ballast: peak ${withBallast.r.peakMb ?? '-'} MiB`);
    }
    const result = (rows: MemFormatRow[]): MemLimits =>
      ({ node: process.version, baselineConstantMb: BASELINE_MEMORY_MB, baselines, rows, source: path.basename(source) });
    if (process.env.MEM_LIMITS_BASELINE_ONLY) return result([]);

    // Encoded candidates, shared by the memory sizes: format index + size -> file.
    const files = new Map<string, { file: string; bytes: number }>();
    const candidate = async (f: number, [w, h]: [number, number]) => {
      const k = `${f}:${w}x${h}`;
      let c = files.get(k);
      if (!c) {
        const file = path.join(dir, `f${f}-${w}x${h}.${FORMATS[f].ext}`);
        if (!fs.existsSync(file)) {
          await FORMATS[f].encode(sharp(source, { limitInputPixels: false }).resize({ width: w, height: h, fit: 'fill' })).toFile(file);
        }
        c = { file, bytes: fs.statSync(file).size };
        files.set(k, c);
      }
      return c;
    };
    const check = async (memoryMb: number, file: string): Promise<string> => {
      try {
        await checkInput(fs.readFileSync(file), { ...config, memoryBudgetBytes: memoryBudgetFor(memoryMb) });
        return 'accepted';
      } catch (e) {
        if (e instanceof ImageRejectedError) return e.reason;
        throw e;
      }
    };

    const rows: MemFormatRow[] = [];
    const g = grid();
    for (const memoryMb of MEMORY_SIZES) {
      for (let f = 0; f < FORMATS.length; f++) {
        // Binary search on the grid for the last accepted point (acceptance shrinks as size grows).
        let lo = -1;
        let hi = g.length;
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          const c = await candidate(f, dims(g[mid]));
          if ((await check(memoryMb, c.file)) === 'accepted') lo = mid;
          else hi = mid;
        }
        const caseAt = async (i: number): Promise<MemCase | undefined> => {
          if (i < 0 || i >= g.length) return undefined;
          const [w, h] = dims(g[i]);
          const c = await candidate(f, [w, h]);
          const verdict = await check(memoryMb, c.file);
          const { r, handled } = runHandler(memoryMb, ['tiny.jpg', path.basename(c.file)], ballast.get(memoryMb));
          const last = handled[1];
          return {
            width: w,
            height: h,
            bytes: c.bytes,
            check: verdict,
            run: {
              status: last?.status ?? (r.oomKilled ? 'killed: out of memory' : 'no answer'),
              reason: last?.reason,
              ms: last?.ms,
              peakMb: r.peakMb,
              rssPeakMb: last?.rssHwmKb === undefined ? undefined : Math.round(last.rssHwmKb / 1024),
              capped: r.applied,
              oomKilled: r.oomKilled,
              exit: r.signal ?? String(r.status),
            },
          };
        };
        const row: MemFormatRow = { memoryMb, format: FORMATS[f].name, accepted: await caseAt(lo), refused: await caseAt(hi) };
        rows.push(row);
        log(`  ${memoryMb} MB ${row.format}: ${caseLine(row.accepted)} | first refused ${caseLine(row.refused)}`);
      }
    }
    return result(rows);
  } finally {
    endpoint.stop();
  }
}

function caseLine(c: MemCase | undefined): string {
  if (!c) return '-';
  const r = c.run;
  return `${c.width}x${c.height} ${(c.bytes / 1048576).toFixed(1)} MiB: ${r ? `${r.status}${r.reason ? ` (${r.reason})` : ''}, peak ${r.peakMb ?? '-'} MiB, ${fmt(r.ms, 0)} ms${r.oomKilled ? ', KILLED' : ''}` : c.check}`;
}

/** The report's section. */
export function memLimitsSection(m: MemLimits, out: (s?: string) => void): void {
  out('## Memory at 128, 256 and 512 MB: the largest input accepted in each format');
  out();
  const capped = m.baselines.every((b) => b.capped);
  out('The whole handler (bundle, sharp layer, S3 and EventBridge clients against a stand-in endpoint in another process), '
    + 'run as Lambda\'s Node.js bootstrap runs it, '
    + `${capped ? 'under the memory cap and CPU share' : '**WITHOUT the memory cap and CPU share**'} of each memory size (bench/lambda-limits.ts), node ${m.node}. `
    + 'Baseline: one process that loaded the handler and processed one tiny image. '
    + 'Per format, the largest input the handler\'s checks before decoding accept '
    + `at that memory size, found by search (3:2 frames made from ${m.source}), and the next size up, which they refuse; each in a process of its own, after the tiny image. `
    + 'The cap here (cgroup v1) charges the process only for the memory it touches first, not for the node binary and libraries other processes hold: '
    + `each run holds a ballast that brings its baseline up to the ${LAMBDA_BASELINE_MB} MiB Lambda reports for this handler at 128 MB on Node.js 24, `
    + 'so the peaks below are Lambda\'s and the cap kills where Lambda would. '
    + `The handler assumes a baseline of ${m.baselineConstantMb} MiB. The default timeout is ${DEFAULTS.timeoutSeconds} s.`);
  out();
  out(table(['memory', 'baseline: cgroup peak MiB', 'RSS MiB', 'ballast MiB', 'peak with it MiB', 'CPU share'], m.baselines.map((b) => [
    `${b.memoryMb} MB`, b.peakMb ?? '-', b.rssMb ?? '-', b.ballastMb, b.peakWithBallastMb ?? '-', b.cpuShare.toFixed(3),
  ])));
  out();
  const cell = (c: MemCase | undefined) => (c ? `${c.width}x${c.height} (${((c.width * c.height) / 1e6).toFixed(1)} MP, ${(c.bytes / 1048576).toFixed(1)} MiB)` : '-');
  const outcome = (c: MemCase | undefined) => {
    const r = c?.run;
    if (!r) return '-';
    if (r.oomKilled) return '**killed: out of memory**';
    return `${r.status}${r.reason ? ` (${r.reason})` : ''}`;
  };
  out(table(['memory', 'format', 'largest accepted', 'peak MiB', 'ms', 'outcome', 'next size up', 'peak MiB', 'outcome'], m.rows.map((r) => [
    `${r.memoryMb} MB`, r.format, cell(r.accepted), r.accepted?.run?.peakMb ?? '-', fmt(r.accepted?.run?.ms, 0), outcome(r.accepted),
    cell(r.refused), r.refused?.run?.peakMb ?? '-', outcome(r.refused),
  ]), ['l', 'l', 'l', 'r', 'r', 'l', 'l', 'r', 'l']));
  out();
}

if (require.main === module) {
  // Alone: `ts-node bench/mem-limits.ts` (after `npx projen bundle`), with the bench's cached inputs.
  void (async () => {
    const sharp = layerSharp();
    const inputs = await prepareInputs(sharp, { rounds: 1, bursts: [], cold: 1, targetMs: 1, skip: new Set(), explore: false, out: BENCH });
    const task = lambdaTaskDir();
    const m = await measureMemLimits(sharp, inputs, path.join(task, 'index.js'));
    const md: string[] = [];
    memLimitsSection(m, (s = '') => md.push(s));
    process.stdout.write(`\n${md.join('\n')}\n`);
    fs.writeFileSync(path.join(CACHE, 'mem-limits.json'), JSON.stringify(m, null, 2));
    fs.rmSync(task, { recursive: true, force: true });
  })().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
