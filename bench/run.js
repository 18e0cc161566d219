#!/usr/bin/env node
/**
 * The benchmark suite: one command, every figure measured in this run, reported as ratios against
 * a baseline measured in the same run. Nothing here asserts anything about time.
 *
 *   node bench/run.js [--photos DIR] [--rounds N] [--bursts 10,50,100,500,1000] [--cold N]
 *                     [--target-ms MS] [--skip cpu,cold,mem128,handler,burst]
 *
 * Needs the shipped assets (`npx projen bundle && bash lambda-src/layer/build.sh`). Uses sharp from
 * the shipped layer (assets/sharp-layer/<arch>/nodejs/node_modules) everywhere, Debian's
 * /usr/bin/python3 with python3-pil for the original system's transform, and loopback only.
 * Writes bench/RESULTS.md and bench/latency.svg; caches inputs and bundles in bench/.cache/.
 */
'use strict';
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const BENCH = __dirname;
const CACHE = path.join(BENCH, '.cache');
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const LAYER = path.join(ROOT, 'assets', 'sharp-layer', ARCH, 'nodejs', 'node_modules');
const HANDLER = path.join(ROOT, 'assets', 'lambda-src', 'process-image.lambda', 'index.js');
const LOCAL_WORKER = path.join(ROOT, 'assets', 'lambda-src', 'local', 'lambda-worker', 'index.js');
const PYTHON = '/usr/bin/python3';
const LAMBDA_SIM = process.env.BENCH_LAMBDA_SIM ?? path.resolve(ROOT, '..', 'shared', 'tools', 'lambda-sim.sh');
const DEFAULT_BACKGROUNDS = '/usr/share/backgrounds';

/** The original system's three resolutions, and a 24 MP camera frame. */
const SIZES = [[1200, 800], [1500, 997], [2040, 1536], [6000, 4000]];
const PHOTOS_PER_SIZE = 5;
const MAIN_IMPLS = ['ours', 'pillow', 'pillow-draft'];
const CANDIDATES = [
  ['sharp-direct', 'the same sharp pipeline as ours, without the header read and checks'],
  ['kernel-linear', "resize kernel 'linear' (default lanczos3)"],
  ['kernel-cubic', "resize kernel 'cubic'"],
  ['kernel-mitchell', "resize kernel 'mitchell'"],
  ['kernel-nearest', "resize kernel 'nearest'"],
  ['no-optimise-coding', 'jpeg({ optimiseCoding: false })'],
  ['grayscale()', ".grayscale() instead of .toColourspace('b-w') (3-channel output)"],
  ['no-flatten', 'without .flatten() (a JPEG input has no alpha)'],
  ['pipeline-b-w', "pipelineColourspace('b-w'): grey before the resize (sharp then skips shrink-on-load)"],
  ['recomb-luma', "Rec.601 luma (Pillow's convert('L')) by recomb + extractChannel(0), not the b-w colourspace"],
  ['fastShrinkOnLoad-off', 'resize({ fastShrinkOnLoad: false })'],
  ['no-shrink-on-load', 'extract() of the whole image before the resize, which turns shrink-on-load off'],
  ['max-shrink-two-stage', 'resize inside 256x256 (shrinks more on load), raw, then stretch to 256x256'],
  ['combo', 'linear + optimiseCoding off + no flatten'],
  ['combo-luma', 'linear + optimiseCoding off + no flatten + recomb luma'],
  ['combo-luma-max-shrink', 'combo-luma + max-shrink-two-stage'],
  ['floor-decode-only', 'not an output: decode with the same shrink-on-load, nearest to 256x256, raw'],
  ['floor-full-decode', 'not an output: the whole image decoded to raw pixels'],
  ['floor-call-overhead', 'not an output: a 64x64 JPEG decoded to raw, whatever the input (fixed cost of a sharp call)'],
];
/** Measured in their own process: environment-level knobs. */
const ENV_CANDIDATES = [
  ['ours+malloc-tunables', 'ours with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=256MiB:trim_threshold=512MiB (fewer page faults; own process)',
    { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=536870912' }],
];
const PILLOW_REFERENCES = [
  ['pillow-draft-rgb', "Pillow draft('RGB', (256, 256)) then convert('L'): draft's DCT scaling without its luma-only decode"],
  ['pillow-decode-only', "not an output: Pillow draft('L') + load(), the decode step of Pillow-draft alone"],
];
const FLOORS = ['floor-decode-only', 'floor-full-decode', 'floor-call-overhead', 'pillow-decode-only'];

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { photos: undefined, rounds: 3, bursts: [10, 50, 100, 500, 1000], cold: 15, targetMs: 300, skip: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--photos') o.photos = path.resolve(val());
    else if (a === '--rounds') o.rounds = Math.max(1, Number(val()));
    else if (a === '--bursts') o.bursts = val().split(',').filter(Boolean).map(Number);
    else if (a === '--cold') o.cold = Math.max(1, Number(val()));
    else if (a === '--target-ms') o.targetMs = Math.max(1, Number(val()));
    else if (a === '--skip') for (const s of val().split(',')) o.skip.add(s.trim());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 12).map((l) => l.replace(/^ \*( |$)/, '')).join('\n') + '\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const log = (line = '') => process.stdout.write(`${line}\n`);
const median = (xs) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN);
const fmt = (n, digits = 1) => (n === undefined || n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);
const sizeName = ([w, h]) => `${w}x${h}`;
const mb = (kb) => (kb === undefined || kb === null ? undefined : kb / 1024);

function table(headers, rows, align) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? '').length)));
  const al = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const line = (r) => `| ${r.map((c, i) => (al[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (al[i] === 'l' ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n');
}

function run(cmd, args, options = {}) {
  const res = childProcess.spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  if (res.error) throw res.error;
  return res;
}

function jsonLines(text) {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
}

function nodeEnv(extra = {}) {
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? os.tmpdir(), LANG: 'C.UTF-8', NODE_PATH: LAYER, ...extra };
}

function pythonEnv(extra = {}) {
  // Debian's interpreter with Debian's packages only: nothing from a pyenv or a virtualenv.
  return { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), LANG: 'C.UTF-8', ...extra };
}

// ---------------------------------------------------------------------------------------------
// Preconditions and build

function checkAssets() {
  const missing = [
    [HANDLER, "the handler bundle: run 'npx projen bundle'"],
    [LOCAL_WORKER, "the local worker bundle: run 'npx projen bundle'"],
    [path.join(LAYER, 'sharp', 'package.json'), "the sharp layer: run 'bash lambda-src/layer/build.sh'"],
  ].filter(([f]) => !fs.existsSync(f));
  if (missing.length) {
    for (const [f, how] of missing) process.stderr.write(`bench: missing ${f} (${how})\n`);
    process.exit(1);
  }
}

async function buildBundles() {
  const esbuild = require(require.resolve('esbuild', { paths: [ROOT] }));
  const sharpFromLayer = {
    name: 'sharp-from-layer',
    setup(build) {
      build.onResolve({ filter: /^sharp$/ }, () => ({ path: path.join(LAYER, 'sharp'), external: true }));
    },
  };
  const outdir = path.join(CACHE, 'build');
  for (const entry of ['transform-worker', 'handler-cost', 'burst']) {
    await esbuild.build({
      entryPoints: [path.join(BENCH, `${entry}.ts`)],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: path.join(outdir, `${entry}.js`),
      plugins: [sharpFromLayer],
      logLevel: 'warning',
    });
  }
  return {
    transformWorker: path.join(outdir, 'transform-worker.js'),
    handlerCost: path.join(outdir, 'handler-cost.js'),
    burst: path.join(outdir, 'burst.js'),
  };
}

/**
 * The handler bundle copied to a folder outside the repo, as Lambda has it in /var/task: its
 * `require('sharp')` then finds the layer on NODE_PATH, not the repo's own node_modules/sharp.
 */
function lambdaTaskDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-bench-task-'));
  fs.copyFileSync(HANDLER, path.join(dir, 'index.js'));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Machine

function machine(sharp) {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const nproc = (() => {
    try {
      return run('nproc', []).stdout.trim();
    } catch {
      return String(os.availableParallelism?.() ?? os.cpus().length);
    }
  })();
  let pillow;
  let python;
  let boto3;
  if (fs.existsSync(PYTHON)) {
    const r = run(PYTHON, ['-c', 'import sys; print(sys.version.split()[0])'], { env: pythonEnv() });
    python = r.status === 0 ? r.stdout.trim() : undefined;
    const p = run(PYTHON, ['-c', 'import PIL; print(PIL.__version__)'], { env: pythonEnv() });
    pillow = p.status === 0 ? p.stdout.trim() : undefined;
    const b = run(PYTHON, ['-c', 'import boto3; print(boto3.__version__)'], { env: pythonEnv() });
    boto3 = b.status === 0 ? b.stdout.trim() : undefined;
  }
  let commit = '-';
  try {
    commit = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).stdout.trim();
    if (run('git', ['status', '--porcelain', '--', 'lambda-src', 'src'], { cwd: ROOT }).stdout.trim()) commit += ' (lambda-src/ or src/ modified)';
  } catch { /* not a git checkout */ }
  return {
    date: new Date().toISOString(),
    nproc,
    cpu: model,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${process.arch}`,
    node: process.version,
    sharp: sharp.versions.sharp,
    vips: sharp.versions.vips,
    jpeg: sharp.versions.mozjpeg ? `mozjpeg ${sharp.versions.mozjpeg}` : sharp.versions.jpeg ?? '-',
    sharpPath: require.resolve(path.join(LAYER, 'sharp')),
    python: python ? `${python} (${PYTHON})` : undefined,
    pillow,
    boto3,
    commit,
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs

async function listPhotos(sharp, dir, explicit) {
  if (!dir || !fs.existsSync(dir)) return { photos: [], skipped: [] };
  const all = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  // In /usr/share/backgrounds the photographs are the lomiri-wallpapers' "<title>_by_<author>.jpg";
  // the other JPEGs there (ukui-wallpapers) are renders, not photographs.
  const chosen = explicit ? all : all.filter((f) => /_by_/.test(f));
  const skipped = all.filter((f) => !chosen.includes(f));
  const photos = [];
  for (const f of chosen) {
    const file = path.join(dir, f);
    try {
      const m = await sharp(file).metadata();
      const swap = (m.orientation ?? 1) >= 5;
      const width = swap ? m.height : m.width;
      const height = swap ? m.width : m.height;
      if (m.format === 'jpeg' && width >= height) photos.push({ file, name: f, width, height });
      else skipped.push(f);
    } catch {
      skipped.push(f);
    }
  }
  return { photos, skipped };
}

/** Picks PHOTOS_PER_SIZE sources per size: downscales for the small sizes, the largest for 24 MP. */
function selectSources(photos) {
  const used = new Map(photos.map((p) => [p.name, 0]));
  const plan = [];
  for (const size of SIZES) {
    const [w, h] = size;
    const scaleOf = (p) => Math.max(w / p.width, h / p.height);
    let pool;
    if (w * h >= 20e6) {
      pool = [...photos].sort((a, b) => b.width * b.height - a.width * a.height);
    } else {
      // Sources that need no enlargement, least used first, then by name: different photos per size.
      pool = photos.filter((p) => scaleOf(p) <= 1).sort((a, b) => used.get(a.name) - used.get(b.name) || a.name.localeCompare(b.name));
      if (pool.length < PHOTOS_PER_SIZE) pool = [...photos].sort((a, b) => scaleOf(a) - scaleOf(b));
    }
    const picked = pool.slice(0, PHOTOS_PER_SIZE);
    for (const p of picked) used.set(p.name, used.get(p.name) + 1);
    plan.push({ size, sources: picked.map((p) => ({ ...p, scale: scaleOf(p) })) });
  }
  return plan;
}

/** A photograph-like generated frame (gradients, edges, texture, grain), deterministic per seed. */
async function generated(sharp, width, height, seed) {
  const data = Buffer.alloc(width * height * 3);
  let s = 12345 + seed * 7919;
  const cx = 0.3 + 0.1 * seed;
  for (let y = 0; y < height; y++) {
    const v = y / height;
    for (let x = 0; x < width; x++) {
      s = (s * 48271) % 2147483647;
      const grain = (s % 17) - 8;
      const u = x / width;
      const ring = Math.sin(Math.hypot(u - cx, v - 0.4) * (30 + 8 * seed)) * 40;
      const sky = v < 0.5 + 0.08 * Math.sin(u * (7 + seed));
      const leaf = Math.sin(x * 0.21 + seed) * Math.sin(y * 0.17) * 18;
      const i = (y * width + x) * 3;
      data[i] = clamp((sky ? 90 + 80 * v : 60 + 70 * u + leaf) + ring + grain);
      data[i + 1] = clamp((sky ? 140 + 60 * v : 110 - 40 * v + leaf) + ring / 2 + grain);
      data[i + 2] = clamp((sky ? 220 - 40 * v : 50 + 30 * u) + grain);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function clamp(n) {
  return n < 0 ? 0 : n > 255 ? 255 : Math.round(n);
}

/** Makes (or reuses) the inputs: PHOTOS_PER_SIZE JPEGs (quality 90) per size in bench/.cache/inputs. */
async function prepareInputs(sharp, opts) {
  const dir = opts.photos ?? DEFAULT_BACKGROUNDS;
  const { photos, skipped } = await listPhotos(sharp, dir, opts.photos !== undefined);
  const real = photos.length >= 1;
  const plan = real ? selectSources(photos) : SIZES.map((size) => ({ size, sources: [] }));
  const key = crypto.createHash('sha256').update(JSON.stringify({
    v: 2, sharp: sharp.versions.sharp, plan: plan.map((p) => [p.size, p.sources.map((s) => [s.file, fs.statSync(s.file).size])]),
  })).digest('hex').slice(0, 16);
  const inputsDir = path.join(CACHE, 'inputs');
  const manifestFile = path.join(inputsDir, 'manifest.json');
  if (fs.existsSync(manifestFile)) {
    const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    if (m.key === key && m.sets.every((s) => s.files.every((f) => fs.existsSync(f.file)))) return { ...m, cached: true };
  }
  fs.rmSync(inputsDir, { recursive: true, force: true });
  const sets = [];
  for (const { size, sources } of plan) {
    const [w, h] = size;
    const sdir = path.join(inputsDir, sizeName(size));
    fs.mkdirSync(sdir, { recursive: true });
    const files = [];
    for (let i = 0; i < PHOTOS_PER_SIZE; i++) {
      const src = sources[i % Math.max(1, sources.length)];
      const name = real ? `${String(i).padStart(2, '0')}-${src.name.replace(/\.jpe?g$/i, '')}.jpg` : `${String(i).padStart(2, '0')}-generated.jpg`;
      const out = path.join(sdir, name);
      const img = real
        ? sharp(src.file, { autoOrient: true }).resize({ width: w, height: h, fit: 'cover', kernel: 'lanczos3' })
        : await generated(sharp, w, h, i);
      await img.jpeg({ quality: 90 }).toFile(out);
      files.push({
        file: out,
        source: real ? src.name : 'generated',
        sourceSize: real ? `${src.width}x${src.height}` : '-',
        scale: real ? src.scale : 1,
        bytes: fs.statSync(out).size,
      });
    }
    sets.push({ size, files });
  }
  const manifest = { key, real, dir, skipped, sets };
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  return { ...manifest, cached: false };
}

// ---------------------------------------------------------------------------------------------
// 2 + 3. CPU per image, peak memory, quality

function cpuJob(workers, kind, impls, files, outDir, opts, jobFile, extraEnv = {}) {
  const job = { impls, files, outDir, targetMs: opts.targetMs, minPasses: 1, maxPasses: 60 };
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const res = kind === 'python'
    ? run(PYTHON, [path.join(BENCH, 'pillow_worker.py'), 'cpu', jobFile], { env: pythonEnv(extraEnv) })
    : run(process.execPath, [workers.transformWorker, 'cpu', jobFile], { env: nodeEnv(extraEnv) });
  if (res.status !== 0) throw new Error(`${kind} worker (${impls.join(', ')}) failed (${res.status}): ${res.stderr}`);
  return jsonLines(res.stdout).pop();
}

async function measureCpu(workers, inputs, opts, env) {
  const jobsDir = path.join(CACHE, 'jobs');
  const outRoot = path.join(CACHE, 'out');
  fs.rmSync(outRoot, { recursive: true, force: true });
  fs.mkdirSync(jobsDir, { recursive: true });
  const cpu = {}; // `${impl}@${size}` -> [ms per round]
  const mem = {}; // `${impl}@${size}` -> [{peak, baseline}]
  const bytes = {};
  const add = (m, k, v) => ((m[k] ??= []).push(v));
  const candidateNames = CANDIDATES.map(([n]) => n);
  for (let round = 0; round < opts.rounds; round++) {
    for (const set of inputs.sets) {
      const size = sizeName(set.size);
      const files = set.files.map((f) => f.file);
      const outDir = path.join(outRoot, size);
      const jobs = [
        ['node', ['ours'], 'main'],
        ...(env.pillow ? [
          ['python', ['pillow'], 'main'],
          ['python', ['pillow-draft'], 'main'],
          ['python', PILLOW_REFERENCES.map(([n]) => n), 'reference'],
        ] : []),
        // The candidates share a process, in a rotating order, with ours as the in-process reference.
        ['node', rotate(['ours', ...candidateNames], round), 'candidates'],
        ...ENV_CANDIDATES.map(([name, , e]) => ['node', ['ours'], name, e]),
      ];
      for (const [kind, impls, group, extraEnv] of rotate(jobs, round)) {
        // Environment-level candidates run ours unchanged: same output, no copy kept.
        const r = cpuJob(workers, kind, impls, files, extraEnv ? undefined : outDir, opts, path.join(jobsDir, `${size}-${group}-${impls[0]}.json`), extraEnv);
        for (const x of r.results) {
          const name = group === 'candidates' && x.impl === 'ours' ? 'ours(in-process)' : ['main', 'candidates', 'reference'].includes(group) ? x.impl : group;
          add(cpu, `${name}@${size}`, x.cpuMsPerImage);
          bytes[`${name}@${size}`] = x.outBytes;
        }
        if (!['candidates', 'reference'].includes(group)) add(mem, `${['main'].includes(group) ? impls[0] : group}@${size}`, { peak: r.peakRssKb, baseline: r.baselineRssKb });
        if (r.sharpPath) env.workerSharp = r.sharpPath;
      }
      process.stdout.write(`  round ${round + 1}/${opts.rounds} ${size} done\n`);
    }
  }
  return { cpu, mem, bytes, outRoot };
}

function rotate(xs, n) {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Mean absolute difference (0-255) of two 256x256 outputs, decoded to one grey channel each. */
async function mad(sharp, a, b) {
  const grey = async (file) => {
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

async function measureQuality(sharp, inputs, outRoot, impls, reference) {
  const q = {}; // `${impl}@${size}` -> mean MAD over the photos
  for (const set of inputs.sets) {
    const size = sizeName(set.size);
    for (const impl of impls) {
      if (impl === reference) continue;
      const ds = [];
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

// ---------------------------------------------------------------------------------------------
// 4. Cold init

function measureCold(taskDir, opts, env) {
  const handler = path.join(taskDir, 'index.js');
  const nodeScript = [
    'const t = process.hrtime.bigint();',
    `require(${JSON.stringify(handler)});`,
    'const ms = Number(process.hrtime.bigint() - t) / 1e6;',
    "const sharp = Object.keys(require.cache).find((k) => /[\\\\/]sharp[\\\\/]/.test(k));",
    'process.stdout.write(JSON.stringify({ ms, sharp }));',
  ].join(' ');
  const pyImport = 'import time, json; t = time.perf_counter(); import boto3; from PIL import Image; print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))';
  const pyClient = 'import time, json; t = time.perf_counter(); import boto3; from PIL import Image; s3 = boto3.client("s3"); print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))';
  const lambdaEnv = { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' };
  const kinds = [['node', process.execPath, ['-e', nodeScript], nodeEnv({ PIPELINE_CONFIG: '{"outputBucket":"o"}', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769', ...lambdaEnv })]];
  if (env.boto3 && env.pillow) {
    kinds.push(['python-import', PYTHON, ['-c', pyImport], pythonEnv(lambdaEnv)]);
    kinds.push(['python-import+client', PYTHON, ['-c', pyClient], pythonEnv(lambdaEnv)]);
  }
  const out = Object.fromEntries(kinds.map(([k]) => [k, { init: [], process: [] }]));
  let sharpPath;
  for (let i = 0; i < opts.cold; i++) {
    for (const [k, cmd, args, e] of rotate(kinds, i)) {
      const t0 = process.hrtime.bigint();
      const r = run(cmd, args, { env: e, cwd: taskDir });
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`cold init (${k}) failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      out[k].init.push(j.ms);
      out[k].process.push(wall);
      if (j.sharp) sharpPath = j.sharp;
    }
  }
  return { runs: out, sharpPath };
}

// ---------------------------------------------------------------------------------------------
// 7. Memory at 128 MB

function measureMem128(workers, taskDir, inputs, env) {
  if (!fs.existsSync(LAMBDA_SIM)) return { error: `${LAMBDA_SIM} not found: not measured` };
  const big = inputs.sets.find((s) => s.size[0] * s.size[1] >= 20e6);
  const files = big.files.map((f) => f.file);
  const parse = (r) => {
    const m = /peak_mb=(\d+) limit_hits=(\d+)/.exec(r.stderr ?? '');
    const lines = jsonLines(r.stdout ?? '');
    return {
      status: r.status,
      signal: r.signal,
      peakMb: m ? Number(m[1]) : undefined,
      limitHits: m ? Number(m[2]) : undefined,
      images: lines.filter((l) => l.file),
      processPeakKb: lines.find((l) => l.peakRssKb)?.peakRssKb,
      stderr: (r.stderr ?? '').trim().split('\n').slice(-3).join(' / '),
    };
  };
  const res = {};
  // The handler's transform, in a process that has also loaded (initialised) the handler bundle.
  const preload = path.join(taskDir, 'preload.js');
  fs.writeFileSync(preload, `require(${JSON.stringify(path.join(taskDir, 'index.js'))});\n`);
  res.ours = parse(run(LAMBDA_SIM, ['128', process.execPath, '--require', preload, workers.transformWorker, 'once', ...files], {
    cwd: taskDir,
    env: nodeEnv({ PIPELINE_CONFIG: '{"outputBucket":"o"}', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', AWS_REGION: 'us-east-1' }),
    timeout: 180_000,
  }));
  if (env.pillow) {
    res.pillow = parse(run(LAMBDA_SIM, ['128', PYTHON, path.join(BENCH, 'pillow_worker.py'), 'once', ...files], {
      env: pythonEnv(), timeout: 180_000,
    }));
  }
  res.files = files.length;
  return res;
}

// ---------------------------------------------------------------------------------------------
// 5. The handler's cost per image beyond the transform

function originalSizesCycled(inputs) {
  // The original system's three sizes, cycled: photo i of each size in turn.
  const small = inputs.sets.filter((s) => s.size[0] * s.size[1] < 20e6);
  const files = [];
  for (let i = 0; i < PHOTOS_PER_SIZE; i++) for (const s of small) files.push(s.files[i].file);
  return files;
}

function measureHandlerCost(workers, taskDir, inputs, opts) {
  const job = {
    files: originalSizesCycled(inputs),
    images: 150,
    rounds: opts.rounds,
    handlerPath: path.join(taskDir, 'index.js'),
    workerPath: LOCAL_WORKER,
    layerPath: LAYER,
  };
  const jobFile = path.join(CACHE, 'jobs', 'handler-cost.json');
  fs.mkdirSync(path.dirname(jobFile), { recursive: true });
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const r = run(process.execPath, [workers.handlerCost, jobFile], { env: nodeEnv(), timeout: 60_000 + opts.rounds * 120_000 });
  if (r.status !== 0) process.stderr.write(`bench: the handler-cost run ended with status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}\n`);
  const rows = jsonLines(r.stdout ?? '');
  const summary = {};
  for (const what of ['transform', 'handler', 'handler-no-events']) {
    const mine = rows.filter((x) => x.what === what);
    if (mine.length === 0) continue;
    const cpu = mine.map((x) => x.cpuMsPerImage);
    summary[what] = {
      rounds: mine.length,
      images: mine[0].images,
      cpu: median(cpu),
      cpuMin: Math.min(...cpu),
      cpuMax: Math.max(...cpu),
      local: mine[0].localCpuMsPerImage === undefined ? undefined : median(mine.map((x) => x.localCpuMsPerImage)),
      wall: median(mine.map((x) => x.wallMsPerImage)),
      outcomes: {},
    };
    for (const x of mine) for (const [k, v] of Object.entries(x.statuses ?? {})) summary[what].outcomes[k] = (summary[what].outcomes[k] ?? 0) + v;
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------
// 6. Local-mode bursts

function measureBursts(workers, taskDir, inputs, opts) {
  const job = {
    sizes: opts.bursts,
    files: originalSizesCycled(inputs),
    concurrency: 2,
    uploadConcurrency: 32,
    handlerPath: path.join(taskDir, 'index.js'),
    workerPath: LOCAL_WORKER,
    layerPath: LAYER,
    // Bounded: a burst of 1000 gets 80 s (this machine does it in about 15).
    deadlineBaseMs: 20_000,
    deadlinePerImageMs: 60,
  };
  const jobFile = path.join(CACHE, 'jobs', 'burst.json');
  fs.mkdirSync(path.dirname(jobFile), { recursive: true });
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const budget = opts.bursts.reduce((t, n) => t + 60_000 + job.deadlineBaseMs + job.deadlinePerImageMs * n, 30_000);
  const r = run(process.execPath, [workers.burst, jobFile], { env: nodeEnv(), timeout: budget });
  const batches = jsonLines(r.stdout ?? '');
  if (r.status !== 0) process.stderr.write(`bench: the burst run ended with status ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-2000)}\n`);
  return batches;
}

// ---------------------------------------------------------------------------------------------
// 7. Chart

function latencySvg(batches, machineLine) {
  const W = 760;
  const H = 440;
  const m = { l: 80, r: 150, t: 56, b: 88 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const series = [
    ['p50', '#1f77b4', (b) => pct(b.latencyMs, 0.5)],
    ['p99', '#d62728', (b) => pct(b.latencyMs, 0.99)],
    ['max', '#7f7f7f', (b) => b.latencyMs[b.latencyMs.length - 1]],
  ];
  const values = batches.flatMap((b) => series.map(([, , f]) => f(b))).filter((v) => Number.isFinite(v) && v > 0);
  // Axis bounds on the 1-2-5 steps just outside the data.
  const steps = (v) => [1, 2, 5].map((k) => k * Math.pow(10, Math.floor(Math.log10(v))));
  const lo = Math.max(...[...steps(Math.min(...values)), ...steps(Math.min(...values) / 10)].filter((t) => t <= Math.min(...values)));
  const hi = Math.min(...[...steps(Math.max(...values)), ...steps(Math.max(...values) * 10)].filter((t) => t >= Math.max(...values)));
  const y = (v) => m.t + ph - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const xs = batches.map((b) => b.n);
  const xlo = Math.log10(Math.min(...xs)) - 0.15;
  const xhi = Math.log10(Math.max(...xs)) + 0.15;
  const x = (n) => m.l + ((Math.log10(n) - xlo) / (xhi - xlo || 1)) * pw;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.l}" y="24" font-size="15" font-weight="bold">Local mode: upload-to-output latency by burst size</text>`);
  parts.push(`<text x="${m.l}" y="42" fill="#555">${esc(machineLine)}</text>`);
  for (let d = Math.pow(10, Math.floor(Math.log10(lo))); d <= hi; d *= 10) {
    for (const k of [1, 2, 5]) {
      const v = d * k;
      if (v < lo * 0.999 || v > hi * 1.001) continue;
      const yy = y(v).toFixed(1);
      parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${yy}" y2="${yy}" stroke="${k === 1 ? '#cccccc' : '#eeeeee'}"/>`);
      const label = v >= 1000 ? `${v / 1000} s` : `${v} ms`;
      parts.push(`<text x="${m.l - 8}" y="${(Number(yy) + 4).toFixed(1)}" text-anchor="end" fill="${k === 1 ? '#333' : '#888'}">${label}</text>`);
    }
  }
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  for (const b of batches) {
    const xx = x(b.n).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="#333"/>`);
    parts.push(`<text x="${xx}" y="${m.t + ph + 19}" text-anchor="middle">${b.n}</text>`);
    parts.push(`<text x="${xx}" y="${m.t + ph + 35}" text-anchor="middle" fill="#555" font-size="11">${fmt(b.throughput, 1)}/s</text>`);
    if (b.lost) parts.push(`<text x="${xx}" y="${m.t + ph + 49}" text-anchor="middle" fill="#d62728" font-size="11">${b.lost} lost</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 20}" text-anchor="middle">uploads in the burst (log scale); below each: throughput, images/s</text>`);
  parts.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">latency, upload start to output (log scale)</text>`);
  series.forEach(([name, colour, f], si) => {
    const pts = batches.map((b) => [x(b.n), f(b)]).filter(([, v]) => Number.isFinite(v) && v > 0);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([a, v]) => `${a.toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`);
    for (const [a, v] of pts) parts.push(`<circle cx="${a.toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${colour}"><title>${name}: ${Math.round(v)} ms</title></circle>`);
    const ly = m.t + 10 + si * 20;
    parts.push(`<line x1="${m.l + pw + 16}" x2="${m.l + pw + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${name}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Report

function report(ctx) {
  const { env, inputs, cpuRes, quality, qualityVsOurs, cold, mem128, handlerCost, bursts, opts, elapsed } = ctx;
  const md = [];
  const out = (s = '') => md.push(s);
  const sizes = inputs.sets.map((s) => sizeName(s.size));
  const cpuMed = (impl, size) => median(cpuRes?.cpu[`${impl}@${size}`] ?? []);
  const spread = (impl, size) => {
    const xs = cpuRes?.cpu[`${impl}@${size}`] ?? [];
    if (xs.length < 2) return '';
    return ` (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
  };

  out('# Benchmark results');
  out();
  out(`Generated by \`node bench/run.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\` on ${env.date}. `
    + 'Every figure below was measured in this one run; ratios are against baselines measured in the same run. '
    + 'Nothing here is a pass/fail threshold.');
  out();
  out('## Machine');
  out();
  out(table(['what', 'value'], [
    ['CPUs (nproc)', env.nproc],
    ['CPU model', env.cpu],
    ['memory', env.memory],
    ['OS', env.os],
    ['Node.js', env.node],
    ['sharp / libvips / JPEG codec', `${env.sharp} / ${env.vips} / ${env.jpeg}`],
    ['sharp loaded from', `${path.relative(ROOT, env.sharpPath)} (the shipped layer${env.workerSharp && env.workerSharp.startsWith(LAYER) ? '; workers checked' : ''})`],
    ['Python / Pillow', env.python ? `${env.python} / ${env.pillow ?? 'not installed'}` : 'not found'],
    ['boto3', env.boto3 ?? 'not installed'],
    ['commit', env.commit],
    ['bench wall time', `${fmt(elapsed / 1000, 0)} s`],
  ], ['l', 'l']));
  out();

  out('## Inputs');
  out();
  if (inputs.real) {
    out(`Real photographs from \`${inputs.dir}\`${inputs.dir === DEFAULT_BACKGROUNDS ? ' (Debian lomiri-wallpapers-16.04 / -20.04, `*_by_*.jpg`)' : ''}, `
      + `each cropped to the aspect ratio (centre) and resized with sharp lanczos3, saved as JPEG quality 90 (baseline, 4:2:0), `
      + `${PHOTOS_PER_SIZE} per size${inputs.cached ? ' (reused from bench/.cache/inputs)' : ''}.`);
    if (inputs.skipped.length) out(`Not used: ${inputs.skipped.length} other JPEGs there (renders or portrait), e.g. ${inputs.skipped.slice(0, 4).join(', ')}.`);
    out();
    out(table(['size', 'photos (source size, scale)', 'mean bytes'], inputs.sets.map((s) => [
      sizeName(s.size),
      s.files.map((f) => `${f.source.replace(/\.jpe?g$/i, '')} (${f.sourceSize}, x${f.scale.toFixed(2)})`).join('; '),
      Math.round(s.files.reduce((t, f) => t + f.bytes, 0) / s.files.length),
    ]), ['l', 'l', 'r']));
    const up = inputs.sets.flatMap((s) => s.files).filter((f) => f.scale > 1.001);
    if (up.length) out(`\nNote: ${up.length} inputs are enlarged from smaller photos (scale > 1): less fine detail than a camera frame of that size.`);
  } else {
    out(`**No photographs found** (no usable JPEG photographs in ${inputs.dir}; install Debian's lomiri-wallpapers-16.04 and lomiri-wallpapers-20.04, or pass --photos DIR). `
      + '**These results use generated photo-like images** (gradients, rings, texture and grain), which are not photographs: '
      + 'their JPEG entropy and so decode cost differ from a camera\'s.');
  }
  out();

  if (cpuRes) {
    const rounds = opts.rounds;
    out('## CPU time per image, one thread');
    out();
    out(`Default variant (grayscale 256x256, fit fill, JPEG). CPU time (user+system of the process, all threads) per image after a warm-up pass, `
      + `median of ${rounds} rounds (min-max in brackets), each round a fresh process per implementation and size, ~${opts.targetMs} ms of work per measurement. `
      + '**ours**: `transformImage` (lambda-src/transform.ts) with `validatePipelineConfig({ outputBucket: \'o\' })` after `configureSharp(1)`. '
      + '**Pillow**: the original, `Image.open(f).convert(\'L\').resize((256, 256)).save(out, \'JPEG\')` under Debian\'s /usr/bin/python3. '
      + '**Pillow-draft**: the same with `im.draft(\'L\', (256, 256))` before the convert. Both sides read from and write to memory.');
    out();
    out(table(['size', 'ours ms', 'Pillow ms', 'Pillow-draft ms', 'ours/Pillow', 'ours/Pillow-draft'], sizes.map((s) => [
      s,
      fmt(cpuMed('ours', s), 2) + spread('ours', s),
      fmt(cpuMed('pillow', s), 2) + spread('pillow', s),
      fmt(cpuMed('pillow-draft', s), 2) + spread('pillow-draft', s),
      ratio(cpuMed('ours', s), cpuMed('pillow', s)),
      ratio(cpuMed('ours', s), cpuMed('pillow-draft', s)),
    ])));
    out();
    out('### Peak memory (RSS high-water mark of the measuring process)');
    out();
    out('Peak over the whole measurement; "after load" is the high-water mark once the interpreter, the library and the five input files are in memory, so the difference is what transforming adds.');
    out();
    const memOf = (impl, s) => {
      const xs = cpuRes.mem[`${impl}@${s}`] ?? [];
      return { peak: median(xs.map((x) => x.peak)), base: median(xs.map((x) => x.baseline)) };
    };
    out(table(['size', 'ours peak MB (after load)', 'Pillow peak MB (after load)', 'Pillow-draft peak MB (after load)', 'ours/Pillow peak', 'added: ours / Pillow / Pillow-draft MB'], sizes.map((s) => {
      const [a, b, c] = ['ours', 'pillow', 'pillow-draft'].map((i) => memOf(i, s));
      return [
        s,
        `${fmt(mb(a.peak))} (${fmt(mb(a.base))})`,
        `${fmt(mb(b.peak))} (${fmt(mb(b.base))})`,
        `${fmt(mb(c.peak))} (${fmt(mb(c.base))})`,
        ratio(a.peak, b.peak),
        `${fmt(mb(a.peak - a.base))} / ${fmt(mb(b.peak - b.base))} / ${fmt(mb(c.peak - c.base))}`,
      ];
    })));
    out();
    out('### Output quality');
    out();
    out('Mean absolute difference (0-255) against the original Pillow output for the same input, both decoded to 256x256 grey, averaged over the photos of each size. '
      + 'For scale: Pillow-draft vs Pillow is the difference the original system\'s own fast path makes. Output sizes: mean bytes of the 256x256 JPEG.');
    out();
    out(table(['size', 'ours vs Pillow', 'Pillow-draft vs Pillow', 'ours vs Pillow-draft', 'bytes ours / Pillow / draft'], sizes.map((s) => [
      s,
      fmt(quality[`ours@${s}`], 2),
      fmt(quality[`pillow-draft@${s}`], 2),
      fmt(qualityVsOurs[`pillow-draft@${s}`], 2),
      `${fmt(cpuRes.bytes[`ours@${s}`], 0)} / ${fmt(cpuRes.bytes[`pillow@${s}`], 0)} / ${fmt(cpuRes.bytes[`pillow-draft@${s}`], 0)}`,
    ])));
    out();

    out('## Candidates (exploration, not what ships)');
    out();
    out('Sharp pipelines for the same output (grayscale 256x256 fill JPEG q80), one knob changed from ours unless named a combo, all in one process per size and round '
      + '(rotating order) with ours as the in-process reference; environment-level knobs in their own process; Pillow references in one Python process. '
      + 'Each cell: CPU ms per image (median of rounds), ratio to Pillow-draft, and MAD vs Pillow ("n/a": not an output).');
    out();
    const candRows = [
      ['ours(in-process)', 'ours, measured in the candidates\' process'],
      ...CANDIDATES,
      ...ENV_CANDIDATES,
      ...(env.pillow ? PILLOW_REFERENCES : []),
    ];
    const madOf = (name, s) => (name === 'ours(in-process)' || ENV_CANDIDATES.some(([n]) => n === name) ? quality[`ours@${s}`] : quality[`${name}@${s}`]);
    out(table(['candidate', ...sizes.map((s) => `${s}: ms, /draft, MAD`), 'what'], candRows.map(([name, what]) => [
      name,
      ...sizes.map((s) => {
        const ms = cpuMed(name, s);
        return `${fmt(ms, 2)}, ${ratio(ms, cpuMed('pillow-draft', s))}, ${FLOORS.includes(name) ? 'n/a' : fmt(madOf(name, s), 2)}`;
      }),
      what,
    ]), ['l', ...sizes.map(() => 'r'), 'l']));
    out();
    out(table(['candidate', ...sizes.map((s) => `${s} vs ours in-process`)], [...CANDIDATES, ...ENV_CANDIDATES].map(([name]) => [
      name, ...sizes.map((s) => ratio(cpuMed(name, s), cpuMed(ENV_CANDIDATES.some(([n]) => n === name) ? 'ours' : 'ours(in-process)', s))),
    ])));
    out();
    out('(Environment-level candidates are compared with ours measured in its own process.)');
    for (const [name] of ENV_CANDIDATES) {
      const peaks = sizes.map((s) => {
        const xs = cpuRes.mem[`${name}@${s}`] ?? [];
        const ys = cpuRes.mem[`ours@${s}`] ?? [];
        return `${s} ${fmt(mb(median(xs.map((x) => x.peak))))} vs ${fmt(mb(median(ys.map((y) => y.peak))))}`;
      });
      out(`Peak RSS MB of ${name} vs ours: ${peaks.join('; ')}.`);
    }
    out();
    const outputs = [...CANDIDATES, ...ENV_CANDIDATES].map(([n]) => n).filter((n) => !FLOORS.includes(n));
    const perSize = (n, base) => sizes.map((s) => cpuMed(n, s) / cpuMed(base, s));
    const range = (xs, d = 2) => `${Math.min(...xs).toFixed(d)}x-${Math.max(...xs).toFixed(d)}x`;
    const madRange = (n) => {
      const xs = sizes.map((s) => madOf(n, s)).filter((v) => v !== undefined);
      return xs.length ? `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}` : '-';
    };
    const within = outputs.filter((n) => sizes.every((s) => cpuMed(n, s) <= cpuMed('pillow-draft', s)));
    const ranked = outputs.map((n) => [n, Math.max(...perSize(n, 'pillow-draft'))]).sort((x, y) => x[1] - y[1]);
    out(`**Within Pillow-draft's CPU time at every size:** ${within.length ? within.map((n) => `${n} (MAD vs Pillow ${madRange(n)})`).join(', ') : 'none of the candidates'}. `
      + `Closest at their worst size: ${ranked.slice(0, 3).map(([n, r]) => `${n} ${r.toFixed(2)}x (MAD ${madRange(n)})`).join('; ')}; `
      + `ours is ${range(perSize('ours', 'pillow-draft'))} (MAD ${madRange('ours')}); Pillow-draft's own MAD vs Pillow is ${madRange('pillow-draft')}.`);
    out();
    const ms = (n) => sizes.map((s) => cpuMed(n, s));
    const lines = [
      `sharp's JPEG decode with the same shrink-on-load and nothing after it (floor-decode-only) costs ${range(perSize('floor-decode-only', 'pillow-draft'))} Pillow-draft's whole transform`
        + (cpuRes.cpu[`pillow-decode-only@${sizes[0]}`] ? ` and ${range(perSize('floor-decode-only', 'pillow-decode-only'))} Pillow-draft's decode step alone` : ''),
      `a sharp call on a 64x64 JPEG costs ${fmt(Math.min(...ms('floor-call-overhead')), 2)}-${fmt(Math.max(...ms('floor-call-overhead')), 2)} ms whatever the input (fixed per image)`,
      `without shrink-on-load the decode alone costs ${range(perSize('floor-full-decode', 'pillow-draft'))} Pillow-draft`,
    ];
    if (cpuRes.cpu[`pillow-draft-rgb@${sizes[0]}`]) {
      lines.push(`decoding all three components instead of luma only costs Pillow ${range(perSize('pillow-draft-rgb', 'pillow-draft'))} (draft('RGB') vs draft('L')), so the luma-only decode is not most of Pillow-draft's lead`);
      const share = perSize('pillow-decode-only', 'pillow-draft').map((x) => x * 100);
      lines.push(`Pillow-draft spends ${Math.min(...share).toFixed(0)}%-${Math.max(...share).toFixed(0)}% of its CPU time in the decode step`);
    }
    out('Where the time goes:');
    out();
    lines.forEach((l, i) => out(`- ${l}${i === lines.length - 1 ? '.' : ';'}`));
    out();
  }

  if (cold) {
    out('## Cold init');
    out();
    const c = cold.runs;
    const n = c.node;
    out(`${opts.cold} fresh processes each, interleaved. **init**: time inside the process to \`require()\` the handler bundle (PIPELINE_CONFIG={"outputBucket":"o"}, `
      + 'NODE_PATH=the layer, the bundle copied outside the repo as in /var/task) or to `import boto3; from PIL import Image` in /usr/bin/python3; '
      + '**process**: spawn to exit as seen by the parent, interpreter start-up included.');
    if (cold.sharpPath) out(`The handler's sharp was loaded from ${cold.sharpPath.startsWith(LAYER) ? 'the layer' : cold.sharpPath}.`);
    out();
    const rows = Object.entries(c).map(([k, v]) => [
      k === 'node' ? 'ours: require(handler bundle)' : k === 'python-import' ? 'original: import boto3; from PIL import Image' : 'original + boto3.client("s3")',
      fmt(median(v.init)), fmt(Math.min(...v.init)), fmt(median(v.process)), fmt(Math.min(...v.process)),
      k === 'node' ? '1.00x' : ratio(median(n.init), median(v.init)),
    ]);
    out(table(['what', 'init median ms', 'init min ms', 'process median ms', 'process min ms', 'ours init / this init'], rows));
    if (!c['python-import']) out(`\nThe original's import time was not measured: ${env.pillow ? 'boto3 is not importable in /usr/bin/python3 (apt-get install python3-boto3)' : 'Pillow is not installed for /usr/bin/python3'}.`);
    out();
  }

  if (mem128) {
    out('## Memory at 128 MB (lambda-sim)');
    out();
    if (mem128.error) {
      out(mem128.error);
    } else {
      out(`Each 24 MP input in turn, in one process under \`${path.relative(ROOT, LAMBDA_SIM)} 128\` (memory capped at 128 MB without swap, CPU at 128/1769 of a core). `
        + '**ours**: `transformImage` with the handler\'s policy for 128 MB (`memoryBudgetFor(128)`), in a process that first loaded the handler bundle; '
        + '**Pillow**: the original transform.');
      out();
      const rows = [['ours', mem128.ours], ['Pillow (original)', mem128.pillow]].filter(([, r]) => r).map(([name, r]) => [
        name,
        `${r.images.filter((i) => i.ok).length}/${mem128.files}`,
        r.peakMb ?? '-',
        r.peakMb !== undefined ? `${(r.peakMb / 128).toFixed(2)}` : '-',
        r.limitHits ?? '-',
        r.status === 0 ? 'exit 0' : `exit ${r.status ?? r.signal}${r.status === 137 ? ' (killed: out of memory)' : ''}`,
        r.images.filter((i) => i.ok).length ? fmt(median(r.images.filter((i) => i.ok).map((i) => i.ms)), 0) : '-',
        r.images.filter((i) => !i.ok).map((i) => i.error).join('; ') || '-',
      ]);
      out(table(['what', 'succeeded', 'peak MB (cgroup)', 'peak / limit', 'limit hits', 'exit', 'median ms per image (at 0.072 CPU)', 'errors'], rows));
    }
    out();
  }

  if (handlerCost && handlerCost.transform) {
    out('## The handler\'s cost per image beyond the transform');
    out();
    out(`The same inputs as the bursts (the three original sizes cycled, 5 photos each), ${handlerCost.transform.images} images per measurement, `
      + `median of ${handlerCost.transform.rounds} rounds (min-max in brackets), each round in rotating order. `
      + '**transform**: `transformImage` with the handler\'s policy, in the measuring process. '
      + '**handler**: one upload at a time through `LocalPipeline` with one execution environment (the shipped handler bundle and layer), '
      + 'each upload waited for before the next; CPU time of the environment\'s process per image: GetObject, the transform, PutObject, PutEvents '
      + '(EventBridge events on, the local default) and the log lines. **endpoint ms**: CPU of the process holding the embedded S3 endpoint, the events sink, '
      + 'the pool and the uploading client.');
    out();
    const base = handlerCost.transform.cpu;
    const rows = [
      ['transform only', handlerCost.transform],
      ['handler, events off', handlerCost['handler-no-events']],
      ['handler, events on (default)', handlerCost.handler],
    ].filter(([, r]) => r).map(([name, r]) => [
      name,
      `${fmt(r.cpu, 1)} (${fmt(r.cpuMin, 1)}-${fmt(r.cpuMax, 1)})`,
      ratio(r.cpu, base),
      r === handlerCost.transform ? '-' : fmt(r.cpu - base, 1),
      r.local === undefined ? '-' : fmt(r.local, 1),
      fmt(r.wall, 1),
      Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ') || '-',
    ]);
    out(table(['what', 'CPU ms per image', 'of transform', 'beyond the transform ms', 'endpoint ms per image', 'wall ms per image', 'outcomes (all rounds)'], rows));
    out();
    out('CPU time at the clock-tick resolution of /proc (10 ms over the whole measurement). What goes beyond the transform is the work around it: '
      + 'building, signing and sending three requests (GetObject, PutObject, PutEvents) and reading their responses. On Lambda it is billed as '
      + 'the transform is, at the function\'s CPU share, on top of the time spent waiting for S3 and EventBridge.');
    out();
  }

  if (bursts) {
    out('## Local mode: bursts');
    out();
    const transformMs = cpuRes ? median(sizes.slice(0, 3).map((s) => cpuMed('ours', s))) : undefined;
    out('`LocalPipeline` (embedded S3 on 127.0.0.1, local Lambda pool of 2 execution environments running the shipped handler bundle with the shipped layer), '
      + 'a fresh pipeline per burst with one warm-up upload per environment first. Uploads: @aws-sdk/client-s3 PutObject, 32 at a time, as fast as they go, '
      + 'the three original sizes cycled (5 photos each). Latency: PutObject start to the pipeline\'s `done` event for that key. Lost: no `done`/`failed` by the deadline.'
      + (transformMs ? ` Baseline from the CPU section: ours takes ${fmt(transformMs, 2)} ms CPU per image (median of the three sizes), so 2 environments doing nothing else would reach ${fmt(2000 / transformMs, 0)} images/s.` : ''));
    out();
    out(table(['uploads', 'throughput img/s', 'of transform-only rate', 'p50 ms', 'p99 ms', 'max ms', 'p50 / transform ms', 'lost', 'outcomes', 'wall s'], bursts.map((b) => [
      b.n,
      fmt(b.throughput, 1),
      transformMs ? `${((b.throughput / (2000 / transformMs)) * 100).toFixed(0)}%` : '-',
      fmt(pct(b.latencyMs, 0.5), 0),
      fmt(pct(b.latencyMs, 0.99), 0),
      fmt(b.latencyMs[b.latencyMs.length - 1], 0),
      transformMs ? ratio(pct(b.latencyMs, 0.5), transformMs) : '-',
      b.lost,
      Object.entries(b.statuses).map(([k, v]) => `${k} ${v}`).join(', '),
      fmt((b.wallMs ?? NaN) / 1000, 1),
    ])));
    out();
    out('![latency by burst size](latency.svg)');
    out();
  }

  out('## Notes');
  out();
  out('- CPU figures are process CPU time, so they do not depend on what else the machine was doing as much as wall time would; they still move a few percent between runs (see the min-max).');
  out('- Pillow writes JPEG quality 75 by default, ours quality 80: part of every MAD is the two encoders, not the resize. sharp\'s b-w colourspace is luminance computed in linear light; Pillow\'s convert(\'L\') is Rec.601 luma of the gamma-encoded values (as JPEG\'s Y): the recomb-luma candidates show how much of the MAD that accounts for.');
  out('- The handler bundle runs from a copy outside the repo (as Lambda runs it from /var/task with the layer on NODE_PATH): from assets/ in a checkout, '
    + 'its `require(\'sharp\')` would find the repo\'s own node_modules/sharp before NODE_PATH, and the local mode would not be using the layer.');
  out('- The local-mode figures include the embedded S3 endpoint, the uploading client and the two workers sharing this machine\'s cores; they are not Lambda\'s.');
  return md.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  checkAssets();
  fs.mkdirSync(CACHE, { recursive: true });
  const sharp = require(path.join(LAYER, 'sharp'));
  const env = machine(sharp);
  log(`bench: ${env.cpu}, ${env.nproc} CPUs, ${env.memory}; node ${env.node}, sharp ${env.sharp} (libvips ${env.vips}) from the layer; Pillow ${env.pillow ?? 'NOT INSTALLED'}`);
  const step = (name) => log(`\n== ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)`);

  step('build');
  const workers = await buildBundles();
  const taskDir = lambdaTaskDir();

  step('inputs');
  const inputs = await prepareInputs(sharp, opts);
  if (!inputs.real) log('NOTE: no photographs found: using GENERATED photo-like images (results say so)');
  for (const s of inputs.sets) log(`  ${sizeName(s.size)}: ${s.files.map((f) => f.source).join(', ')}`);
  if (!env.pillow) log(`NOTE: Pillow is not importable in ${PYTHON} (apt-get install -y python3-pil): the original is not measured`);

  let cpuRes;
  let quality = {};
  let qualityVsOurs = {};
  if (!opts.skip.has('cpu')) {
    step(`CPU per image (${opts.rounds} rounds)`);
    cpuRes = await measureCpu(workers, inputs, opts, env);
    const impls = ['ours', 'pillow-draft', 'pillow-draft-rgb', ...CANDIDATES.map(([n]) => n).filter((n) => !FLOORS.includes(n))];
    if (env.pillow) quality = await measureQuality(sharp, inputs, cpuRes.outRoot, impls, 'pillow');
    if (env.pillow) qualityVsOurs = await measureQuality(sharp, inputs, cpuRes.outRoot, ['pillow-draft'], 'ours');
  }
  let cold;
  if (!opts.skip.has('cold')) {
    step(`cold init (${opts.cold} processes each)`);
    cold = measureCold(taskDir, opts, env);
  }
  let mem128;
  if (!opts.skip.has('mem128')) {
    step('memory at 128 MB');
    mem128 = measureMem128(workers, taskDir, inputs, env);
  }
  let handlerCost;
  if (!opts.skip.has('handler')) {
    step(`handler cost per image (${opts.rounds} rounds)`);
    handlerCost = measureHandlerCost(workers, taskDir, inputs, opts);
  }
  let bursts;
  if (!opts.skip.has('burst') && opts.bursts.length) {
    step(`local-mode bursts (${opts.bursts.join(', ')})`);
    bursts = measureBursts(workers, taskDir, inputs, opts);
  }
  fs.rmSync(taskDir, { recursive: true, force: true });

  const elapsed = Date.now() - started;
  const md = report({ env, inputs, cpuRes, quality, qualityVsOurs, cold, mem128, handlerCost, bursts, opts, elapsed });
  log(`\n${md}`);
  fs.writeFileSync(path.join(BENCH, 'RESULTS.md'), `${md}\n`);
  if (bursts && bursts.length) {
    const line = `${env.cpu}, ${env.nproc} CPUs; node ${env.node}, sharp ${env.sharp}; ${env.date.slice(0, 10)}`;
    fs.writeFileSync(path.join(BENCH, 'latency.svg'), latencySvg(bursts, line));
  }
  log(`\nwrote bench/RESULTS.md${bursts && bursts.length ? ' and bench/latency.svg' : ''} (${(elapsed / 1000).toFixed(0)} s)`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
