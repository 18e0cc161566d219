/**
 * Before measuring: the shipped assets are there, the workers are bundled, the handler is copied
 * where Lambda would have it, and what the machine is.
 */
import * as fs from 'fs';
import { createRequire } from 'module';
import * as os from 'os';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { BENCH, CACHE, HANDLER, LAYER, LOCAL_WORKER, PYTHON, ROOT, pythonEnv, run, type MachineInfo, type Workers } from './common';
import type { Sharp } from './inputs';

/** sharp from the shipped layer (not the repo's node_modules/sharp). */
export function layerSharp(): Sharp {
  return createRequire(__filename)(path.join(LAYER, 'sharp')) as Sharp;
}

export function checkAssets(): void {
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

/** Bundles the TypeScript workers with esbuild, `sharp` resolved to the layer by absolute path. */
export async function buildBundles(): Promise<Workers> {
  const sharpFromLayer: esbuild.Plugin = {
    name: 'sharp-from-layer',
    setup(build) {
      build.onResolve({ filter: /^sharp$/ }, () => ({ path: path.join(LAYER, 'sharp'), external: true }));
    },
  };
  const outdir = path.join(CACHE, 'build');
  const out = (entry: string) => path.join(outdir, `${entry}.js`);
  const entries = ['transform-worker', 'handler-cost-worker', 'handler-driver', 'burst-worker'];
  for (const entry of entries) {
    await esbuild.build({
      entryPoints: [path.join(BENCH, `${entry}.ts`)],
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: out(entry),
      plugins: [sharpFromLayer],
      logLevel: 'warning',
    });
  }
  return {
    transformWorker: out('transform-worker'),
    handlerCost: out('handler-cost-worker'),
    handlerDriver: out('handler-driver'),
    burst: out('burst-worker'),
  };
}

/**
 * The handler bundle copied to a folder outside the repo, as Lambda has it in /var/task: its
 * `require('sharp')` then finds the layer on NODE_PATH, not the repo's own node_modules/sharp.
 */
export function lambdaTaskDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-bench-task-'));
  fs.copyFileSync(HANDLER, path.join(dir, 'index.js'));
  return dir;
}

export function machine(sharp: Sharp): MachineInfo {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const nproc = (() => {
    try {
      return run('nproc', []).stdout.trim();
    } catch {
      return String(os.availableParallelism?.() ?? os.cpus().length);
    }
  })();
  let pillow: string | undefined;
  let python: string | undefined;
  let boto3: string | undefined;
  if (fs.existsSync(PYTHON)) {
    const version = (code: string) => {
      const r = run(PYTHON, ['-c', code], { env: pythonEnv() });
      return r.status === 0 ? r.stdout.trim() : undefined;
    };
    python = version('import sys; print(sys.version.split()[0])');
    pillow = version('import PIL; print(PIL.__version__)');
    boto3 = version('import boto3; print(boto3.__version__)');
  }
  let commit = '-';
  try {
    commit = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).stdout.trim();
    if (run('git', ['status', '--porcelain', '--', 'lambda-src', 'src'], { cwd: ROOT }).stdout.trim()) commit += ' (lambda-src/ or src/ modified)';
  } catch { /* not a git checkout */ }
  const v = sharp.versions as Record<string, string | undefined>;
  return {
    date: new Date().toISOString(),
    nproc,
    cpu: model,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${process.arch}`,
    node: process.version,
    sharp: v.sharp ?? '-',
    vips: v.vips ?? '-',
    jpeg: v.mozjpeg ? `mozjpeg ${v.mozjpeg}` : v.jpeg ?? '-',
    sharpPath: createRequire(__filename).resolve(path.join(LAYER, 'sharp')),
    python: python ? `${python} (${PYTHON})` : undefined,
    pillow,
    boto3,
    commit,
  };
}
