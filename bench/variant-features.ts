/**
 * What the per-variant output features cost, against the default variant in the same run: CPU time
 * per image of the shipped transform (`transformImage`, one libvips thread, one process) over the
 * same photographs, in alternating rounds, for one variant of each kind.
 *
 *   npx ts-node bench/variant-features.ts [--photos DIR] [--rounds N]
 *
 * DIR is a folder of JPEGs (default: the bench's 2040x1536 inputs in bench/.cache/inputs, made by
 * `npm run bench`). Prints a table of the median CPU ms per image and its ratio to the default
 * variant's median; nothing asserts a time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { validatePipelineConfig } from '../lambda-src/config';
import { configureSharp, transformImage } from '../lambda-src/transform';

const CASES: Record<string, Record<string, unknown>[] | undefined> = {
  'default variant (grayscale 256x256 fill)': undefined,
  'cover 256x256, centre': [{ name: 'v', width: 256, height: 256 }],
  'cover 256x256, north': [{ name: 'v', width: 256, height: 256, position: 'north' }],
  'cover 256x256, attention': [{ name: 'v', width: 256, height: 256, position: 'attention' }],
  'cover 256x256, entropy': [{ name: 'v', width: 256, height: 256, position: 'entropy' }],
  'default + key template, headers, metadata': [{
    name: 'grayscale-256',
    width: 256,
    height: 256,
    fit: 'fill',
    grayscale: true,
    quality: 80,
    key: '{dir}/{name}_{width}x{height}.{ext}',
    cacheControl: 'public, max-age=60',
    metadata: { team: 'a' },
  }],
  'default + never-larger guard (skip)': [{ name: 'grayscale-256', width: 256, height: 256, fit: 'fill', grayscale: true, quality: 80, whenLarger: 'skip' }],
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { photos: { type: 'string' }, rounds: { type: 'string', default: '8' } } });
  const dir = values.photos ?? path.join(__dirname, '.cache', 'inputs', '2040x1536');
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => fs.readFileSync(path.join(dir, f)));
  if (files.length === 0) throw new Error(`no JPEGs in ${dir}`);
  configureSharp(1);
  const names = Object.keys(CASES);
  const configs = names.map((n) => validatePipelineConfig({ outputBucket: 'out', ...(CASES[n] ? { variants: CASES[n] } : {}) }));
  const samples = names.map((): number[] => []);
  // warm-up: one pass of each
  for (const c of configs) for (const f of files) await transformImage(f, c);
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? names.map((_, i) => i) : names.map((_, i) => names.length - 1 - i);
    for (const i of order) {
      const t0 = process.cpuUsage();
      for (const f of files) await transformImage(f, configs[i]);
      const t = process.cpuUsage(t0);
      samples[i].push((t.user + t.system) / 1000 / files.length);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = median(samples[0]);
  process.stdout.write(`${files.length} photographs from ${dir}, ${values.rounds} alternating rounds, one libvips thread\n\n`);
  process.stdout.write('| variant | CPU ms / image (median) | vs default |\n|---|---:|---:|\n');
  names.forEach((n, i) => process.stdout.write(`| ${n} | ${median(samples[i]).toFixed(2)} | ${(median(samples[i]) / base).toFixed(2)} |\n`));
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
