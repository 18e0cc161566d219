/**
 * Where the shipped assets are: the handler bundle, the local worker and the sharp layer, under
 * the package root's assets/ folder, whether this runs from the sources (lambda-src/local) or from
 * the bundled CLI in the npm package (assets/lambda-src/local/cli).
 */
import * as fs from 'fs';
import * as path from 'path';

function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'assets'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..');
  }
}

export const PACKAGE_ROOT = packageRoot(__dirname);

export interface ShippedAssets {
  /** The handler bundle that deploys to Lambda. */
  readonly handlerPath: string;
  /** The script that runs one local execution environment. */
  readonly workerPath: string;
  /** The sharp layer's node_modules for this machine, if it can run it. */
  readonly layerPath?: string;
  /** Why the layer cannot be used here, when it cannot. */
  readonly layerProblem?: string;
}

/** The sharp layer folder that runs on this machine: Linux glibc, x64 or arm64. */
export function hostLayerPath(root = PACKAGE_ROOT): { path?: string; problem?: string } {
  if (process.platform !== 'linux') {
    return { problem: `the sharp layer is built for Linux; this is ${process.platform}` };
  }
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  if (report && !report.header?.glibcVersionRuntime) {
    return { problem: 'the sharp layer is built for glibc; this Linux uses another C library (musl?)' };
  }
  const arch = process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'arm64' : undefined;
  if (!arch) return { problem: `the sharp layer is built for x64 and arm64; this is ${process.arch}` };
  const dir = path.join(root, 'assets', 'sharp-layer', arch, 'nodejs', 'node_modules');
  if (!fs.existsSync(path.join(dir, 'sharp', 'package.json'))) {
    return { problem: `the sharp layer is not built (${dir} is missing): run 'npx projen build:sharp-layer'` };
  }
  return { path: dir };
}

export function shippedAssets(root = PACKAGE_ROOT): ShippedAssets {
  const handlerPath = path.join(root, 'assets', 'lambda-src', 'process-image.lambda', 'index.js');
  const workerPath = path.join(root, 'assets', 'lambda-src', 'local', 'lambda-worker', 'index.js');
  for (const [what, file] of [['handler bundle', handlerPath], ['local worker', workerPath]]) {
    if (!fs.existsSync(file)) {
      throw new Error(`the ${what} is missing (${file}): run 'npx projen bundle'`);
    }
  }
  const layer = hostLayerPath(root);
  return { handlerPath, workerPath, layerPath: layer.path, layerProblem: layer.problem };
}

/**
 * The web page's folder: its sources when they are there (a checkout), otherwise the copy the build
 * ships in assets/web-page.
 */
export function webPageDir(root = PACKAGE_ROOT): string {
  const sources = path.join(root, 'lambda-src', 'local', 'web');
  return fs.existsSync(path.join(sources, 'index.html')) ? sources : path.join(root, 'assets', 'web-page');
}

/** This package's version, from its package.json. */
export function packageVersion(root = PACKAGE_ROOT): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
