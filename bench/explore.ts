/**
 * Exploration, not what ships (--explore): candidate sharp pipelines for the default variant, one
 * knob changed from ours at a time, with decode floors and Pillow references, measured in the CPU
 * rounds (bench/cpu.ts), and their section of the report.
 */
import { fmt, mb, median, ratio, rotate, table, type MachineInfo } from './common';
import type { CpuJobSpec, CpuMeasurements } from './cpu';

/** Implementations of bench/transform-worker.ts, measured in one process with ours as the reference. */
export const CANDIDATES: ReadonlyArray<readonly [string, string]> = [
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
export const ENV_CANDIDATES: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
  ['ours+malloc-tunables', 'ours with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=256MiB:trim_threshold=512MiB (fewer page faults; own process)',
    { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=536870912' }],
];

export const PILLOW_REFERENCES: ReadonlyArray<readonly [string, string]> = [
  ['pillow-draft-rgb', "Pillow draft('RGB', (256, 256)) then convert('L'): draft's DCT scaling without its luma-only decode"],
  ['pillow-decode-only', "not an output: Pillow draft('L') + load(), the decode step of Pillow-draft alone"],
];

export const FLOORS = ['floor-decode-only', 'floor-full-decode', 'floor-call-overhead', 'pillow-decode-only'];

/** The candidates that make an output (for the MAD). */
export const EXPLORE_OUTPUTS = ['pillow-draft-rgb', ...CANDIDATES.map(([n]) => n).filter((n) => !FLOORS.includes(n))];

/** The exploration's worker processes in a round of the CPU measurement. */
export function exploreJobs(round: number, env: MachineInfo): CpuJobSpec[] {
  return [
    ...(env.pillow ? [{ kind: 'python', impls: PILLOW_REFERENCES.map(([n]) => n), group: 'reference' }] as CpuJobSpec[] : []),
    // The candidates share a process, in a rotating order, with ours as the in-process reference.
    { kind: 'node', impls: rotate(['ours', ...CANDIDATES.map(([n]) => n)], round), group: 'candidates' },
    ...ENV_CANDIDATES.map(([name, , e]): CpuJobSpec => ({ kind: 'node', impls: ['ours'], group: name, env: e })),
  ];
}

/** The report's "Candidates" section. */
export function exploreReport(cpuRes: CpuMeasurements, sizes: string[], quality: Record<string, number>, env: MachineInfo): string[] {
  const md: string[] = [];
  const out = (s = '') => md.push(s);
  const cpuMed = (impl: string, size: string) => median(cpuRes.cpu[`${impl}@${size}`] ?? []);
  const isEnv = (name: string) => ENV_CANDIDATES.some(([n]) => n === name);
  out('## Candidates (exploration, not what ships)');
  out();
  out('Sharp pipelines for the same output (grayscale 256x256 fill JPEG q80), one knob changed from ours unless named a combo, all in one process per size and round '
    + '(rotating order) with ours as the in-process reference; environment-level knobs in their own process; Pillow references in one Python process. '
    + 'Each cell: CPU ms per image (median of rounds), ratio to Pillow-draft, and MAD vs Pillow ("n/a": not an output).');
  out();
  const candRows: (readonly [string, string])[] = [
    ['ours(in-process)', 'ours, measured in the candidates\' process'],
    ...CANDIDATES,
    ...ENV_CANDIDATES.map(([n, w]) => [n, w] as const),
    ...(env.pillow ? PILLOW_REFERENCES : []),
  ];
  const madOf = (name: string, s: string) => (name === 'ours(in-process)' || isEnv(name) ? quality[`ours@${s}`] : quality[`${name}@${s}`]);
  out(table(['candidate', ...sizes.map((s) => `${s}: ms, /draft, MAD`), 'what'], candRows.map(([name, what]) => [
    name,
    ...sizes.map((s) => {
      const ms = cpuMed(name, s);
      return `${fmt(ms, 2)}, ${ratio(ms, cpuMed('pillow-draft', s))}, ${FLOORS.includes(name) ? 'n/a' : fmt(madOf(name, s), 2)}`;
    }),
    what,
  ]), ['l', ...sizes.map((): 'r' => 'r'), 'l']));
  out();
  out(table(['candidate', ...sizes.map((s) => `${s} vs ours in-process`)], [...CANDIDATES, ...ENV_CANDIDATES].map(([name]) => [
    name, ...sizes.map((s) => ratio(cpuMed(name, s), cpuMed(isEnv(name) ? 'ours' : 'ours(in-process)', s))),
  ])));
  out();
  out('(Environment-level candidates are compared with ours measured in its own process.)');
  for (const [name] of ENV_CANDIDATES) {
    const peaks = sizes.map((s) => {
      const xs = cpuRes.mem[`${name}@${s}`] ?? [];
      const ys = cpuRes.mem[`ours@${s}`] ?? [];
      return `${s} ${fmt(mb(median(xs.map((x) => x.peak ?? NaN))))} vs ${fmt(mb(median(ys.map((y) => y.peak ?? NaN))))}`;
    });
    out(`Peak RSS MB of ${name} vs ours: ${peaks.join('; ')}.`);
  }
  out();
  const outputs = [...CANDIDATES, ...ENV_CANDIDATES].map(([n]) => n).filter((n) => !FLOORS.includes(n));
  const perSize = (n: string, base: string) => sizes.map((s) => cpuMed(n, s) / cpuMed(base, s));
  const range = (xs: number[], d = 2) => `${Math.min(...xs).toFixed(d)}x-${Math.max(...xs).toFixed(d)}x`;
  const madRange = (n: string) => {
    const xs = sizes.map((s) => madOf(n, s)).filter((v) => v !== undefined);
    return xs.length ? `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}` : '-';
  };
  const within = outputs.filter((n) => sizes.every((s) => cpuMed(n, s) <= cpuMed('pillow-draft', s)));
  const ranked = outputs.map((n): [string, number] => [n, Math.max(...perSize(n, 'pillow-draft'))]).sort((x, y) => x[1] - y[1]);
  out(`**Within Pillow-draft's CPU time at every size:** ${within.length ? within.map((n) => `${n} (MAD vs Pillow ${madRange(n)})`).join(', ') : 'none of the candidates'}. `
    + `Closest at their worst size: ${ranked.slice(0, 3).map(([n, r]) => `${n} ${r.toFixed(2)}x (MAD ${madRange(n)})`).join('; ')}; `
    + `ours is ${range(perSize('ours', 'pillow-draft'))} (MAD ${madRange('ours')}); Pillow-draft's own MAD vs Pillow is ${madRange('pillow-draft')}.`);
  out();
  const ms = (n: string) => sizes.map((s) => cpuMed(n, s));
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
  return md;
}
