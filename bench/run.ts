/**
 * The benchmark suite: one command, every figure measured in this run, reported as ratios against
 * a baseline measured in the same run. Nothing here asserts anything about time.
 *
 *   npm run bench -- [--photos DIR] [--rounds N] [--target-ms MS] [--cold N] [--bursts 10,50,100,500,1000]
 *                    [--skip cpu,cold,mem128,memlimits,handler,burst,cost] [--explore] [--out DIR]
 *
 * Needs the shipped assets (`npx projen bundle && bash lambda-src/layer/build.sh`). Uses sharp from
 * the shipped layer (assets/sharp-layer/<arch>/nodejs/node_modules) everywhere, Debian's
 * /usr/bin/python3 with python3-pil for the original system's transform, and loopback only. The
 * 128 MB and cost-model runs are capped as Lambda caps a function (bench/lambda-limits.ts, as root).
 * Writes RESULTS.md, latency.svg, COST.md and cost.svg to bench/ (or --out); caches inputs and bundles in bench/.cache/.
 */
import * as fs from 'fs';
import * as path from 'path';
import { measureBursts } from './burst';
import { measureCold } from './cold-init';
import { BENCH, CACHE, PYTHON, log, sizeName, type Options } from './common';
import { eligibleMemories } from './cost-model';
import { billedSummary, costReport } from './cost-report';
import { measureCpu, measureQuality } from './cpu';
import { EXPLORE_OUTPUTS } from './explore';
import { measureHandlerCost } from './handler-cost';
import { prepareInputs } from './inputs';
import { measureMemLimits } from './mem-limits';
import { measureMem128 } from './mem128';
import { latencySvg, report } from './report';
import { buildBundles, checkAssets, lambdaTaskDir, layerSharp, machine } from './setup';

const MEASUREMENTS = ['cpu', 'cold', 'mem128', 'memlimits', 'handler', 'burst', 'cost'];

function usage(): string {
  return fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 13).map((l) => l.replace(/^ \*( |$)/, '')).join('\n');
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: 3, bursts: [10, 50, 100, 500, 1000], cold: 15, targetMs: 300, skip: new Set(), explore: false, out: BENCH,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--photos': o.photos = path.resolve(val()); break;
      case '--rounds': o.rounds = Math.max(1, Number(val())); break;
      case '--bursts': o.bursts = val().split(',').filter(Boolean).map(Number); break;
      case '--cold': o.cold = Math.max(1, Number(val())); break;
      case '--target-ms': o.targetMs = Math.max(1, Number(val())); break;
      case '--skip': val().split(',').forEach((s) => o.skip.add(s.trim())); break;
      case '--explore': o.explore = true; break;
      case '--out': o.out = path.resolve(val()); break;
      case '--help':
      case '-h':
        process.stdout.write(`${usage()}\n`);
        process.exit(0);
      default:
        throw new Error(`unknown option ${a} (try --help)`);
    }
  }
  const unknown = [...o.skip].filter((s) => !MEASUREMENTS.includes(s));
  if (unknown.length) throw new Error(`--skip ${unknown.join(',')}: the measurements are ${MEASUREMENTS.join(', ')}`);
  return o;
}

/** The machine is shared: its load average goes in the log, before and after the handler runs. */
function loadavg(when: string): string {
  try {
    const l = fs.readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
    log(`  loadavg ${when}: ${l}`);
    return l;
  } catch {
    return '-';
  }
}

type MemLimitRow = NonNullable<Parameters<typeof eligibleMemories>[0]>[number];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opts = parseArgs(args);
  const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const started = Date.now();
  const loadStart = loadavg('at the start');
  checkAssets();
  fs.mkdirSync(CACHE, { recursive: true });
  fs.mkdirSync(opts.out, { recursive: true });
  const sharp = layerSharp();
  const env = machine(sharp);
  log(`bench: ${env.cpu}, ${env.nproc} CPUs, ${env.memory}; node ${env.node}, sharp ${env.sharp} (libvips ${env.vips}) from the layer; Pillow ${env.pillow ?? 'NOT INSTALLED'}`);
  const step = (name: string) => log(`\n== ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  const runs = (name: string) => !opts.skip.has(name);

  step('build');
  const workers = await buildBundles();
  const taskDir = lambdaTaskDir();

  step('inputs');
  const inputs = await prepareInputs(sharp, opts);
  if (!inputs.real) log('NOTE: no photographs found: using GENERATED photo-like images (results say so)');
  for (const s of inputs.sets) log(`  ${sizeName(s.size)}: ${s.files.map((f) => f.source).join(', ')}`);
  if (!env.pillow) log(`NOTE: Pillow is not importable in ${PYTHON} (apt-get install -y python3-pil): the original is not measured`);
  if (env.pillow && !env.boto3) log(`NOTE: boto3 is not importable in ${PYTHON} (apt-get install -y python3-boto3): the original's cold init is not measured`);

  let cpuRes;
  let quality: Record<string, number> = {};
  let qualityVsOurs: Record<string, number> = {};
  if (runs('cpu')) {
    step(`CPU per image (${opts.rounds} rounds${opts.explore ? ', with the candidates' : ''})`);
    cpuRes = measureCpu(workers, inputs, opts, env);
    if (env.pillow) {
      quality = await measureQuality(sharp, inputs, cpuRes.outRoot, ['ours', 'pillow-draft', ...(opts.explore ? EXPLORE_OUTPUTS : [])], 'pillow');
      qualityVsOurs = await measureQuality(sharp, inputs, cpuRes.outRoot, ['pillow-draft'], 'ours');
    }
  }
  let cold;
  if (runs('cold')) {
    step(`cold init (${opts.cold} processes each)`);
    cold = measureCold(taskDir, opts, env);
  }
  let mem128;
  if (runs('mem128')) {
    step('memory at 128 MB');
    mem128 = measureMem128(workers, taskDir, inputs, env);
  }
  let memLimits;
  if (runs('memlimits')) {
    step('memory at 128, 256 and 512 MB: the largest input accepted in each format');
    memLimits = await measureMemLimits(sharp, inputs, path.join(taskDir, 'index.js'));
  }
  let handlerCost;
  if (runs('handler') || runs('cost')) {
    step(`the whole handler against the original's (${opts.rounds} rounds)${runs('cost') ? ', then billed time under simulated latency for the cost model' : ''}`);
    loadavg('before');
    // Queue batches of up to 10 records at once need 100 + 28 x 10 MB: measured at 512 MB.
    handlerCost = measureHandlerCost(workers, taskDir, inputs, opts, env, runs('cost'), 512);
    loadavg('after');
    if (runs('cost')) log(billedSummary(handlerCost.rows));
  }
  let bursts;
  if (runs('burst') && opts.bursts.length) {
    step(`local-mode bursts (${opts.bursts.join(', ')})`);
    bursts = measureBursts(workers, taskDir, inputs, opts);
  }
  fs.rmSync(taskDir, { recursive: true, force: true });

  const elapsed = Date.now() - started;
  const load = `${loadStart} -> ${loadavg('at the end')}`;
  const written: string[] = [];
  const write = (name: string, text: string) => {
    fs.writeFileSync(path.join(opts.out, name), text);
    written.push(path.relative(process.cwd(), path.join(opts.out, name)));
  };
  const md = report({ env, inputs, cpuRes, quality, qualityVsOurs, cold, mem128, memLimits, handlerCost, bursts, opts, elapsed, command, load });
  log(`\n${md}`);
  write('RESULTS.md', `${md}\n`);
  if (bursts && bursts.length) write('latency.svg', latencySvg(bursts, `${env.cpu}, ${env.nproc} CPUs; node ${env.node}, sharp ${env.sharp}; ${env.date.slice(0, 10)}`));
  if (handlerCost && runs('cost')) {
    // The memory sizes that take a 24 MP JPEG of either kind: this run's memlimits step, else its cached result.
    const cached = path.join(CACHE, 'mem-limits.json');
    const limits = memLimits ?? (fs.existsSync(cached) ? JSON.parse(fs.readFileSync(cached, 'utf8')) as { rows: MemLimitRow[] } : undefined);
    const cost = costReport(handlerCost, env, command, eligibleMemories(limits?.rows as MemLimitRow[] | undefined), load);
    log(`\n${cost.text}`);
    write('COST.md', `${cost.text}\n`);
    if (cost.svg) write('cost.svg', cost.svg);
  }
  log(`\nwrote ${written.join(', ')} (${(elapsed / 1000).toFixed(0)} s)`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
