/**
 * The handler's CPU per upload with the manifest off (the default) and on, and against a baseline
 * build of the handler, in one run on the same images: `ImageProcessor.processRecord` over an
 * in-memory S3 (the tests' FakeS3), one thread, one image at a time.
 *
 *   npx ts-node --project tsconfig.dev.json bench/manifest-cost.ts [--rounds 5] [--baseline [NAME=]FILE]...
 *
 * `--baseline` is an esbuild bundle of an earlier `lambda-src/processor.ts` (sharp and the AWS SDK
 * external, so that it shares this process's sharp and S3 client): its default path is measured
 * beside this one's; ratios are against the first one given. The inputs are bench/.cache/inputs (made by `npm run bench`): the original
 * system's three sizes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cpuMs } from './cpu-time';
import { validatePipelineConfig, type PipelineConfig } from '../lambda-src/config';
import * as current from '../lambda-src/processor';
import { s3EventRecord } from '../lambda-src/s3-event';
import { configureSharp } from '../lambda-src/transform';
import { FakeS3 } from '../test/lambda-src/fake-s3';

type ProcessorModule = typeof current;

interface Case {
  readonly name: string;
  readonly module: ProcessorModule;
  readonly config: PipelineConfig;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds') ?? 5);
  const inputsDir = path.join(__dirname, '.cache', 'inputs');
  const sizes = ['1200x800', '1500x997', '2040x1536'];
  const files = sizes.flatMap((s) => fs.readdirSync(path.join(inputsDir, s)).filter((f) => f.endsWith('.jpg')).map((f) => path.join(inputsDir, s, f)));
  if (files.length === 0) throw new Error(`no inputs in ${inputsDir}: run npm run bench once to make them`);
  const bodies = files.map((f) => fs.readFileSync(f));
  configureSharp(1);

  const base = { inputBucket: 'in', outputBucket: 'out' };
  const cases: Case[] = [
    { name: 'default (manifest off)', module: current, config: validatePipelineConfig(base) },
    { name: 'manifest on', module: current, config: validatePipelineConfig({ ...base, manifest: true }) },
  ];
  // --baseline FILE, or several --baseline NAME=FILE: the first is the one ratios are against
  const baselines = process.argv.flatMap((a, i) => (a === '--baseline' ? [process.argv[i + 1]] : []));
  baselines.reverse().forEach((b, i) => {
    const [name, file] = b.includes('=') ? b.split('=') : [`baseline ${baselines.length - i}`, b];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(path.resolve(file)) as ProcessorModule;
    cases.unshift({ name, module, config: validatePipelineConfig(base) });
  });
  const baselineFile = baselines.length > 0 ? cases[0].name : undefined;

  const s3 = new FakeS3();
  const perImage = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  let sequence = 1;
  // one warm-up pass, then the rounds; the cases take turns within each round
  for (let round = 0; round <= rounds; round++) {
    const order = cases.map((_, i) => cases[(i + round) % cases.length]);
    for (const c of order) {
      s3.objects.clear();
      const processor = new c.module.ImageProcessor(s3.client(c.name), c.config, () => undefined);
      const started = cpuMs();
      for (let i = 0; i < bodies.length; i++) {
        const key = `photo-${i}.jpg`;
        const eTag = s3.upload('in', key, bodies[i]);
        const sequencer = (sequence++).toString(16).padStart(16, '0');
        const outcome = await processor.processRecord(s3EventRecord({ bucket: 'in', key, size: bodies[i].length, eTag, sequencer }));
        if (outcome.status !== 'processed') throw new Error(`${c.name}: ${key} was ${outcome.status}`);
      }
      if (round > 0) perImage.get(c.name)!.push((cpuMs() - started) / bodies.length);
    }
  }
  s3.restore();

  const reference = median(perImage.get(cases.find((c) => c.name === 'default (manifest off)')!.name)!);
  const baselineMs = baselineFile ? median(perImage.get(baselineFile)!) : undefined;
  process.stdout.write(`${files.length} images (${sizes.join(', ')}), ${rounds} rounds, CPU ms per image (median of rounds)\n`);
  for (const c of cases) {
    const ms = median(perImage.get(c.name)!);
    const vsBaseline = baselineMs === undefined ? '' : `, ${(ms / baselineMs).toFixed(3)}x baseline`;
    process.stdout.write(`  ${c.name.padEnd(28)} ${ms.toFixed(2).padStart(8)} ms  ${(ms / reference).toFixed(3)}x default${vsBaseline}`
      + `  [${perImage.get(c.name)!.map((x) => x.toFixed(1)).join(' ')}]\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
