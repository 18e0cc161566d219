/**
 * Benchmark worker (one process per measurement, spawned by bench/cpu.ts and bench/mem128.ts;
 * bundled by esbuild with `sharp` resolved to the shipped layer by absolute path).
 *
 *   node transform-worker.js cpu JOB.json   CPU time per image of one or more implementations
 *   node transform-worker.js once FILE...   the handler's transform once per file, with the memory
 *                                           budget of a 128 MB function (run under
 *                                           bench/lambda-limits.ts)
 *
 * `cpu` prints one JSON line on stdout. Nothing here asserts anything about time: it measures.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { cpuMs } from './cpu-time';
import { emit, readJob, type CpuImplResult, type CpuJob, type CpuJobResult, type OnceImage, type OncePeak } from './jobs';
import { validatePipelineConfig } from '../lambda-src/config';
import { configureSharp, memoryBudgetFor, transformImage, type TransformPolicy } from '../lambda-src/transform';

type Impl = (input: Buffer) => Promise<Buffer>;

const POLICY: TransformPolicy = validatePipelineConfig({ outputBucket: 'o' });

/** The options the handler's decoder uses (transform.ts `decoder`). */
const LOAD: sharp.SharpOptions = {
  limitInputPixels: POLICY.maxInputPixels,
  failOn: 'error',
  sequentialRead: true,
  autoOrient: true,
  pages: 1,
};

/** Rec. 601 luma, as JPEG's Y and Pillow's convert('L') compute it, on gamma-encoded values. */
const LUMA: sharp.Matrix3x3 = [
  [0.299, 0.587, 0.114],
  [0.299, 0.587, 0.114],
  [0.299, 0.587, 0.114],
];

interface Variant {
  kernel?: keyof sharp.KernelEnum;
  fastShrinkOnLoad?: boolean;
  /** How the grey image is made. */
  grey?: 'b-w' | 'grayscale' | 'pipeline-b-w' | 'recomb-luma';
  optimiseCoding?: boolean;
  flatten?: boolean;
  /** Defeat shrink-on-load by extracting the whole image before the resize. */
  noShrinkOnLoad?: boolean;
  /**
   * Shrink on load further than a fill to 256x256 allows: a first pipeline to fit inside 256x256
   * keeping the aspect ratio (so the short side drives less), then a second one that stretches the
   * raw result to 256x256 (upsampling the short side).
   */
  maxShrink?: boolean;
}

/** A sharp pipeline for the default variant (grayscale 256x256 fill JPEG q80), one knob at a time. */
function pipeline(v: Variant): Impl {
  return async (input) => {
    let img = sharp(input, LOAD);
    if (v.maxShrink) {
      const { data, info } = await img.resize({ width: 256, height: 256, fit: 'inside', kernel: v.kernel ?? 'lanczos3' })
        .raw().toBuffer({ resolveWithObject: true });
      img = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
    }
    if (v.grey === 'pipeline-b-w') img = img.pipelineColourspace('b-w');
    if (v.noShrinkOnLoad) {
      const meta = await sharp(input).metadata();
      img = img.extract({ left: 0, top: 0, width: meta.width!, height: meta.height! });
    }
    img = img.resize({
      width: 256,
      height: 256,
      fit: 'fill',
      kernel: v.kernel ?? 'lanczos3',
      fastShrinkOnLoad: v.fastShrinkOnLoad ?? true,
    });
    if (v.flatten ?? true) img = img.flatten({ background: '#ffffff' });
    switch (v.grey ?? 'b-w') {
      case 'b-w':
      case 'pipeline-b-w':
        img = img.toColourspace('b-w');
        break;
      case 'grayscale':
        img = img.grayscale();
        break;
      case 'recomb-luma':
        img = img.recomb(LUMA).extractChannel(0).toColourspace('b-w');
        break;
    }
    return img.jpeg({ quality: 80, optimiseCoding: v.optimiseCoding ?? true }).toBuffer();
  };
}

/** Every implementation the bench can measure, by name. */
const IMPLS: Record<string, Impl> = {
  // The shipped transform, default config: what the handler runs.
  'ours': async (input) => (await transformImage(input, POLICY)).outputs[0].body,
  // Candidates (exploration).
  'sharp-direct': pipeline({}),
  'kernel-linear': pipeline({ kernel: 'linear' }),
  'kernel-cubic': pipeline({ kernel: 'cubic' }),
  'kernel-mitchell': pipeline({ kernel: 'mitchell' }),
  'kernel-nearest': pipeline({ kernel: 'nearest' }),
  'no-optimise-coding': pipeline({ optimiseCoding: false }),
  'grayscale()': pipeline({ grey: 'grayscale' }),
  'no-flatten': pipeline({ flatten: false }),
  'pipeline-b-w': pipeline({ grey: 'pipeline-b-w' }),
  'recomb-luma': pipeline({ grey: 'recomb-luma' }),
  'fastShrinkOnLoad-off': pipeline({ fastShrinkOnLoad: false }),
  'no-shrink-on-load': pipeline({ noShrinkOnLoad: true }),
  'max-shrink-two-stage': pipeline({ maxShrink: true }),
  'combo': pipeline({ kernel: 'linear', optimiseCoding: false, flatten: false }),
  'combo-luma': pipeline({ kernel: 'linear', optimiseCoding: false, flatten: false, grey: 'recomb-luma' }),
  'combo-luma-max-shrink': pipeline({ kernel: 'linear', optimiseCoding: false, flatten: false, grey: 'recomb-luma', maxShrink: true }),
  // A floor, not an output: decode with shrink-on-load, nearest-neighbour to 256x256, raw pixels.
  'floor-decode-only': async (input) => sharp(input, LOAD)
    .resize({ width: 256, height: 256, fit: 'fill', kernel: 'nearest' })
    .raw()
    .toBuffer(),
  // The same without shrink-on-load: the whole image decoded to raw pixels.
  'floor-full-decode': async (input) => sharp(input, LOAD).raw().toBuffer(),
  // What any sharp call costs whatever the image: a 64x64 JPEG decoded to raw (input ignored).
  'floor-call-overhead': async () => sharp(await tinyJpeg(), LOAD).raw().toBuffer(),
};

let tiny: Promise<Buffer> | undefined;
function tinyJpeg(): Promise<Buffer> {
  tiny ??= sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  return tiny;
}

/** The RSS high-water mark of this process (VmHWM), in KiB. getrusage's maxrss is no use here:
 * on Linux it carries the parent's high-water mark across fork and exec. */
function hwmKb(): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : undefined;
}

async function runCpu(job: CpuJob): Promise<void> {
  configureSharp(1);
  const inputs = job.files.map((f) => ({ name: path.basename(f), data: fs.readFileSync(f) }));
  const baselineRssKb = hwmKb();
  const results: CpuImplResult[] = [];
  for (const name of job.impls) {
    const impl = IMPLS[name];
    if (!impl) throw new Error(`unknown implementation ${name}`);
    // Warm-up: two passes (the first pays any lazy initialisation); the second sizes the timed run
    // and gives the outputs.
    for (const input of inputs) await impl(input.data);
    const w0 = cpuMs();
    const outputs: Buffer[] = [];
    for (const input of inputs) outputs.push(await impl(input.data));
    const warmMs = cpuMs() - w0;
    const passes = Math.max(job.minPasses, Math.min(job.maxPasses, Math.ceil(job.targetMs / Math.max(warmMs, 0.001))));
    const c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) {
      for (const input of inputs) await impl(input.data);
    }
    const cpu = cpuMs() - c0;
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const images = passes * inputs.length;
    // Floors are not outputs (and a full decode of 24 MP is 72 MB of raw pixels): not kept.
    if (job.outDir && !name.startsWith('floor-')) {
      const dir = path.join(job.outDir, name);
      fs.mkdirSync(dir, { recursive: true });
      inputs.forEach((input, i) => fs.writeFileSync(path.join(dir, input.name), outputs[i]));
    }
    results.push({
      impl: name,
      images,
      passes,
      cpuMsPerImage: cpu / images,
      wallMsPerImage: wall / images,
      outBytes: outputs.reduce((n, o) => n + o.length, 0) / outputs.length,
    });
  }
  emit<CpuJobResult>({
    results,
    baselineRssKb,
    peakRssKb: hwmKb(),
    // The sharp actually loaded (the layer's, by the bundle's absolute require).
    sharpPath: Object.keys(require.cache).find((k) => /[\\/]sharp[\\/]/.test(k)),
  });
}

/** The handler's transform as a 128 MB function runs it: one libvips thread, its memory budget. */
async function runOnce(files: string[]): Promise<void> {
  configureSharp(1);
  const policy: TransformPolicy = { ...POLICY, memoryBudgetBytes: memoryBudgetFor(128) };
  let failed = 0;
  for (const file of files) {
    const t0 = process.hrtime.bigint();
    try {
      const result = await transformImage(fs.readFileSync(file), policy);
      const out = result.outputs[0];
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      emit<OnceImage>({ file, ok: true, width: result.inputWidth, height: result.inputHeight, outBytes: out.body.length, ms });
    } catch (e) {
      failed++;
      emit<OnceImage>({ file, ok: false, error: (e as Error).message });
    }
  }
  emit<OncePeak>({ peakRssKb: hwmKb() });
  process.exitCode = failed ? 1 : 0;
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'cpu') return runCpu(readJob<CpuJob>(args[0]));
  if (mode === 'once') return runOnce(args);
  if (mode === 'list') {
    process.stdout.write(`${JSON.stringify(Object.keys(IMPLS))}\n`);
    return;
  }
  throw new Error('usage: transform-worker.js cpu JOB.json | once FILE... | list');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(2);
});
