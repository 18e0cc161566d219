/**
 * The handler table (ours against the original's whole handler) and the cost model's tables and
 * chart: bench/COST.md and bench/cost.svg, and the handler section of RESULTS.md. Formats;
 * measures nothing.
 */
import { fmt, median, table, type MachineInfo } from './common';
import {
  COLD_START_SHARE, costOf, LOG_EVENT_OVERHEAD, ORIGINAL, ours, pickMemory, platformBytes, PRICE, processing, REQUIRED_JPEG_MP, total,
  type CostLines, type Scenario, type ScenarioCost,
} from './cost-model';
import { cpuOf, MODEL_MEMORY_MB, ratioOf, type HandlerCost } from './handler-cost';
import type { HandlerCostRow } from './jobs';
import { EVENTS_LATENCY, S3_LATENCY } from '../lambda-src/local/s3/latency';
import { DEFAULTS } from '../src/contract';

/** The goals for whole-handler CPU, ours (events off) over the original's, by size. */
export const CPU_GOALS: Record<string, number> = { '1200x800': 0.8, '1500x997': 0.7, '2040x1536': 0.6 };
export const ORIGINAL_SIZES = ['1200x800', '1500x997', '2040x1536'];

const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);
const usd = (v: number) => (v >= 0.995 ? v.toFixed(2) : v.toFixed(3));

/** The handler table: CPU per image of each whole handler, in the same rounds. */
export function handlerTable(h: HandlerCost): string {
  const sizes = [...new Set(h.rows.filter((r) => r.phase === 'cpu').map((r) => r.size))];
  const rows = sizes.map((size) => {
    const o = cpuOf(h, size, 'original');
    const a = cpuOf(h, size, 'ours');
    const e = cpuOf(h, size, 'ours-events');
    const r = ratioOf(h, size, 'ours');
    const goal = CPU_GOALS[size];
    const span = (c?: { med: number; min: number; max: number }) => (c ? `${fmt(c.med, 1)} (${fmt(c.min, 1)}-${fmt(c.max, 1)})` : '-');
    return [
      size,
      span(o),
      span(a),
      x(r),
      goal === undefined ? '-' : `${goal.toFixed(1)}x: ${r === undefined ? '-' : r <= goal ? 'met' : `missed by ${((r / goal - 1) * 100).toFixed(0)}%`}`,
      span(e),
      x(ratioOf(h, size, 'ours-events')),
    ];
  });
  return table(['size', 'original\'s handler CPU ms', 'ours, events off', 'ratio', 'goal', 'ours, events on', 'ratio'], rows);
}

export function handlerSection(h: HandlerCost, out: (s?: string) => void): void {
  const first = h.rows.find((r) => r.phase === 'cpu' && r.impl !== 'original');
  out('## The whole handler against the original\'s');
  out();
  out('Each handler in an execution environment of its own (a process; one at a time, no memory cap), driven with S3 event notifications one image per invocation against the project\'s own S3 endpoint on loopback (no simulated latency), '
    + `${h.images} images per run (24 MP: ${Math.max(5, Math.round(h.images / 4))}) after 5 warm-up images, ${h.rounds} alternating rounds (the order rotates each round); `
    + 'CPU time of the environment\'s process per image, median of the rounds (min-max). The ratio is the median of the per-round ratios. '
    + '**original**: bench/original_handler.py, the original\'s handler (boto3 get_object, Pillow open + convert(\'L\') + resize((256, 256)) + save JPEG, boto3 put_object) under Debian\'s python3. '
    + '**ours**: the shipped handler bundle with the shipped layer, default config (one grayscale 256x256 JPEG), with the ordered writes (GetObject, a conditional PutObject, a HeadObject of the failure record) and one log line per image; events on adds a PutEvents.');
  out();
  out(handlerTable(h));
  out();
  if (first) {
    const req = Object.entries(first.requestsPerImage).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ');
    out(`Requests per image (ours, events off): ${req}; log output ${fmt(first.logBytesPerImage, 0)} bytes in ${fmt(first.logLinesPerImage, 1)} line(s) per image.`);
    out();
  }
  if (h.errors.includes('ended with')) {
    out('Runs that printed no result:');
    out();
    out('```text');
    out(h.errors.split('\n').filter((l) => l.startsWith('run ')).join('\n'));
    out('```');
    out();
  }
}

const LINE_NAMES: [keyof CostLines, string][] = [
  ['compute', 'compute'],
  ['init', 'init'],
  ['invocations', 'invocations'],
  ['logs', 'logs'],
  ['s3Get', 'S3 GET+HEAD'],
  ['s3Put', 'S3 PUT'],
  ['events', 'events'],
  ['sqs', 'SQS'],
];

function costRow(c: ScenarioCost, base?: ScenarioCost): unknown[] {
  return [
    c.size,
    c.scenario.name,
    fmt(c.billedMsPerImage, 0),
    ...LINE_NAMES.map(([k]) => usd(c.lines[k])),
    usd(processing(c.lines)),
    base && base !== c ? x(processing(c.lines) / processing(base.lines)) : '-',
    usd(total(c.lines)),
    base && base !== c ? x(total(c.lines) / total(base.lines)) : '-',
  ];
}

export interface CostTables {
  readonly text: string;
  readonly svg?: string;
  readonly pickedMemory?: number;
}

/** COST.md and cost.svg. */
export function costReport(h: HandlerCost, env: MachineInfo, command: string, eligible?: number[], load?: string): CostTables {
  const md: string[] = [];
  const out = (s = '') => {
    md.push(s);
  };
  const sizes = ORIGINAL_SIZES.filter((s) => h.rows.some((r) => r.phase === 'billed' && r.size === s));
  const pick = pickMemory(h, sizes, eligible);
  const memory = pick?.memoryMb ?? DEFAULTS.memorySizeMb;
  const capped = h.rows.filter((r) => r.phase !== 'cpu').every((r) => r.capped);
  out('# Cost model: a million uploads, line by line');
  out();
  out(`Generated by \`${command}\` on ${env.date}, on ${env.nproc} x ${env.cpu} (a shared machine: load average ${load ?? '-'} over the whole run). `
    + 'Every time below was measured in this run; prices are inputs.');
  out();
  if (!capped) {
    const how = h.rows.find((r) => r.phase !== 'cpu' && !r.capped)?.how;
    out(`**Measured WITHOUT the memory caps and CPU shares** (${how}): the billed times do not grow as Lambda's would at small memory sizes.`);
    out();
  }
  out('## How');
  out();
  out('- **Billed time**: each handler in its own process under the limits of its memory size (memory capped, CPU at MEM/1769 of a core, bench/lambda-limits.ts), '
    + `one image per invocation (S3 notifications; queue mode: one SQS batch per invocation), ${h.billedImages} images per run after 5 warm-up images, ${h.billedRounds} round(s) in rotating order, `
    + 'against the project\'s S3 endpoint with **simulated latency** (lambda-src/local/s3/latency.ts): '
    + `S3 first byte log-normal, median ${S3_LATENCY.medianMs} ms, p99 ${S3_LATENCY.p99Ms} ms, plus ${S3_LATENCY.bytesPerSecond / 1e6} MB/s per connection each way; `
    + `EventBridge PutEvents median ${EVENTS_LATENCY.medianMs} ms, p99 ${EVENTS_LATENCY.p99Ms} ms (sources and assumptions in that file). `
    + 'Each invocation\'s duration is rounded up to the millisecond, as Lambda bills; the median per image over the rounds.');
  out(`- **Init**: the measured init (requiring the handler bundle with the layer; Python: the original's imports and client) under the same limits, billed at the memory size, on ${COLD_START_SHARE * 100}% of invocations `
    + '(AWS Compute Blog, "Operating Lambda: Performance optimization - Part 1": cold starts "typically occur in under 1% of invocations"; a burst on an idle function starts more).');
  out(`- **Logs**: ours, the handler's own output, measured (bytes per image, plus ${LOG_EVENT_OVERHEAD} bytes per event as CloudWatch Logs counts them); Lambda's own per-request lines are off `
    + `(system log level WARN). The original: Lambda's START, END and REPORT lines (text format), ${platformBytes('text')} bytes per invocation with the overhead; our JSON platform lines, were they kept, ${platformBytes('json')}.`);
  out('- **Requests**: counted at the endpoint per image (warm-up included). S3 HEAD is priced as GET; DELETE is free. Queue mode adds SQS: one SendMessage per upload (S3), '
    + 'one ReceiveMessage and one DeleteMessageBatch per batch (Lambda).');
  out(`- **Prices** (US East, first tier, inputs): Lambda $${PRICE.lambdaGbSecond.arm64}/GB-s arm64, $${PRICE.lambdaGbSecond.x86_64}/GB-s x86_64, $${PRICE.lambdaRequest * 1e6}/million requests; `
    + `S3 PUT $${PRICE.s3Put * 1e3}/1000, GET/HEAD $${PRICE.s3Get * 1e3}/1000; EventBridge $${PRICE.eventsPut * 1e6}/million events; SQS $${PRICE.sqsRequest * 1e6}/million requests; `
    + `CloudWatch Logs $${PRICE.logsGb}/GB ingested. The CPU is this machine's: Lambda's arm64 (Graviton) was not measured; the model assumes the same CPU time per image there.`);
  out('- **Metrics**: embedded in the log line, so per image they cost only their bytes (in logs); each metric costs '
    + `$${PRICE.metricMonth} a month whatever the volume (see the README's idle costs).`);
  out();

  const scenarios = (size: string): [ScenarioCost | undefined, (ScenarioCost | undefined)[]] => {
    const base = costOf(h, ORIGINAL, size);
    return [base, [
      base,
      costOf(h, ours(memory), size),
      costOf(h, ours(DEFAULTS.memorySizeMb, { events: false }), size),
      costOf(h, ours(DEFAULTS.memorySizeMb, { events: false, arch: 'x86_64' }), size),
      costOf(h, ours(memory, { platformLogs: 'json' }), size),
      ...[1, 5, 10].map((b) => costOf(h, ours(h.batchMemory, { events: false, batch: b }), size)),
    ]];
  };
  out(`## $ per million uploads (our defaults: ${memory} MB, arm64, events on)`);
  out();
  out('Processing = compute + init + invocations + logs. Ratios against the original at the same size.');
  out();
  const rows: unknown[][] = [];
  for (const size of sizes) {
    const [base, list] = scenarios(size);
    for (const c of list) if (c) rows.push(costRow(c, base));
  }
  out(table(['size', 'system', 'billed ms per image', ...LINE_NAMES.map(([, n]) => n), 'processing', 'of original', 'total', 'of original'], rows));
  out();
  out('Goals: processing at most 0.7x the original\'s, total with our defaults at most the original\'s, at every size:');
  out();
  out(table(['size', 'processing, ours (defaults) / original', 'goal 0.70x', 'total, ours (defaults) / original', 'goal 1.00x'], sizes.map((size) => {
    const o = costOf(h, ORIGINAL, size);
    const d = costOf(h, ours(memory), size);
    const p = o && d ? processing(d.lines) / processing(o.lines) : undefined;
    const t = o && d ? total(d.lines) / total(o.lines) : undefined;
    return [size, x(p), p === undefined ? '-' : p <= 0.7 ? 'met' : 'missed', x(t), t === undefined ? '-' : t <= 1 ? 'met' : 'missed'];
  })));
  out();

  out('## Memory size');
  out();
  const cheapest = pickMemory(h, sizes);
  out('Ours (arm64, events on) at each memory size: billed ms per image and total $ per million. The model picks the lowest mean total among the sizes a '
    + `default may have: those that take objects of the default maxInputBytes (${DEFAULTS.maxInputBytes / 1048576} MiB; the handler holds an input 4 times over in what `
    + `it spares besides its 100 MiB) and a ${REQUIRED_JPEG_MP} MP photo as a baseline and as a progressive JPEG (the memlimits step): `
    + `${eligible?.join(', ') ?? 'all'} MB. It picks **${memory} MB**`
    + `${memory === DEFAULTS.memorySizeMb ? ' (the default)' : ` (the default is ${DEFAULTS.memorySizeMb} MB)`}`
    + `${cheapest && pick && cheapest.memoryMb !== memory ? `; without that condition it would pick ${cheapest.memoryMb} MB, `
      + `$${usd(pick.means[memory] - cheapest.means[cheapest.memoryMb])} per million cheaper` : ''}.`);
  out();
  out(table(['memory MB', ...sizes.flatMap((s) => [`${s} ms`, `${s} $`]), 'mean $'], MODEL_MEMORY_MB.map((m) => [
    m,
    ...sizes.flatMap((s) => {
      const c = costOf(h, ours(m), s);
      return c ? [fmt(c.billedMsPerImage, 0), usd(total(c.lines))] : ['-', '-'];
    }),
    pick?.means[m] === undefined ? '-' : usd(pick.means[m]),
  ])));
  out();

  out(`## Queue mode: batches at ${h.batchMemory} MB`);
  out();
  out(`One invocation per SQS batch, the handler's \`concurrency\` equal to the batch size (so ${h.batchMemory} MB, which allows up to ${Math.floor((h.batchMemory - 100) / 28)} records at once); billed ms per image, events off:`);
  out();
  out(table(['size', ...[1, 5, 10].map((b) => `batch ${b}`), 'batch 10 / batch 1'], sizes.map((size) => {
    const b = [1, 5, 10].map((n) => costOf(h, ours(h.batchMemory, { events: false, batch: n }), size)?.billedMsPerImage);
    return [size, ...b.map((v) => fmt(v, 1)), x(b[2] !== undefined && b[0] !== undefined ? b[2] / b[0] : undefined)];
  })));
  out();

  out('## Requests and log bytes per image');
  out();
  const reqRows = sizes.slice(0, 1).flatMap((size) => [ORIGINAL, ours(memory), ours(DEFAULTS.memorySizeMb, { events: false })].map((s) => {
    const c = costOf(h, s, size);
    return c ? [s.name, Object.entries(c.requestsPerImage).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', '), fmt(c.logBytesPerImage, 0)] : [s.name, '-', '-'];
  }));
  out(table(['system', `requests per image (${sizes[0]})`, 'log bytes per image (billed)'], reqRows, ['l', 'l', 'r']));
  out();
  out('![cost per million uploads](cost.svg)');
  out();
  const svgData = sizes.map((size) => ({ size, o: costOf(h, ORIGINAL, size), d: costOf(h, ours(memory), size) }))
    .filter((r): r is { size: string; o: ScenarioCost; d: ScenarioCost } => r.o !== undefined && r.d !== undefined);
  return { text: md.join('\n'), svg: svgData.length ? costSvg(svgData, `${env.cpu}, ${env.nproc} CPUs; ${env.date.slice(0, 10)}`) : undefined, pickedMemory: pick?.memoryMb };
}

const COLOURS: Record<keyof CostLines, string> = {
  compute: '#1f77b4', init: '#aec7e8', invocations: '#ff7f0e', logs: '#ffbb78', s3Get: '#2ca02c', s3Put: '#98df8a', events: '#d62728', sqs: '#9467bd',
};

/** bench/cost.svg: stacked bars, $ per million uploads by line item, the original beside ours at each size. */
export function costSvg(data: { size: string; o: ScenarioCost; d: ScenarioCost }[], machineLine: string): string {
  const W = 760;
  const H = 440;
  const m = { l: 70, r: 170, t: 50, b: 80 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const max = Math.max(...data.flatMap((r) => [total(r.o.lines), total(r.d.lines)]));
  const top = Math.ceil(max);
  const y = (v: number) => m.t + ph - (v / top) * ph;
  const group = pw / data.length;
  const bw = group / 3;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">$ per million uploads, by line item: the original (O) and ours with defaults (U)</text>`);
  for (let v = 0; v <= top; v++) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  data.forEach((r, i) => {
    [[r.o, 'O'], [r.d, 'U']].forEach(([c, label], j) => {
      const cost = c as ScenarioCost;
      const x0 = m.l + i * group + bw * (0.5 + j * 1.1);
      let acc = 0;
      for (const [k] of LINE_NAMES) {
        const v = cost.lines[k];
        if (v <= 0) continue;
        parts.push(`<rect x="${x0.toFixed(1)}" y="${y(acc + v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(acc) - y(acc + v)).toFixed(1)}" fill="${COLOURS[k]}"><title>${k}: $${usd(v)}</title></rect>`);
        acc += v;
      }
      parts.push(`<text x="${(x0 + bw / 2).toFixed(1)}" y="${(y(acc) - 5).toFixed(1)}" text-anchor="middle">${usd(acc)}</text>`);
      parts.push(`<text x="${(x0 + bw / 2).toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${label}</text>`);
    });
    parts.push(`<text x="${(m.l + i * group + group / 2).toFixed(1)}" y="${m.t + ph + 36}" text-anchor="middle">${r.size}</text>`);
  });
  LINE_NAMES.forEach(([k, name], i) => {
    parts.push(`<rect x="${m.l + pw + 20}" y="${m.t + i * 22}" width="14" height="14" fill="${COLOURS[k]}"/>`);
    parts.push(`<text x="${m.l + pw + 40}" y="${m.t + i * 22 + 11}">${name}</text>`);
  });
  parts.push(`<text x="${m.l}" y="${H - 30}">O: the original (Python, 128 MB, x86_64). U: ours (${data[0].d.scenario.name.replace(/^ours \(|\)$/g, '')}).</text>`);
  parts.push(`<text x="${m.l}" y="${H - 12}" fill="#666">${machineLine}; simulated S3/EventBridge latency; prices: US East list.</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Medians of the billed runs, for the log. */
export function billedSummary(rows: HandlerCostRow[]): string {
  const keys = [...new Set(rows.filter((r) => r.phase !== 'cpu').map((r) => `${r.phase} ${r.impl} ${r.memoryMb} ${r.batch ?? ''} ${r.size}`))];
  return keys.map((k) => {
    const mine = rows.filter((r) => `${r.phase} ${r.impl} ${r.memoryMb} ${r.batch ?? ''} ${r.size}` === k);
    return `  ${k}: ${fmt(median(mine.map((r) => r.billedMsPerImage)), 1)} ms billed per image`;
  }).join('\n');
}

export type { Scenario };
