/**
 * The cost model: what a million uploads cost, line by line, for our pipeline and for the
 * original system, built from what bench/handler-cost.ts measured in this run (billed time under
 * the simulated latency and each memory size's limits, init, requests per image, log bytes per
 * image) and AWS's list prices (inputs, not measurements). Computes; measures nothing.
 */
import { median } from './common';
import { MODEL_MEMORY_MB, ORIGINAL_MEMORY_MB, type HandlerCost } from './handler-cost';
import type { HandlerCostRow, HandlerImpl } from './jobs';
import { effectiveMaxBytes, memoryBudgetFor } from '../lambda-src/transform';
import { DEFAULTS } from '../src/contract';

/**
 * List prices, US East (N. Virginia), first tier, as of 2026 (aws.amazon.com/lambda/pricing,
 * /s3/pricing, /eventbridge/pricing, /sqs/pricing, /cloudwatch/pricing). Inputs of the model.
 */
export const PRICE = {
  /** Lambda, $ per GB-second; the INIT phase is billed the same way (on-demand functions, since August 2025). */
  lambdaGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
  lambdaRequest: 0.2e-6,
  /** S3 Standard: PUT, COPY, POST, LIST per request; GET, HEAD and all other requests; DELETE is free. */
  s3Put: 0.005e-3,
  s3Get: 0.0004e-3,
  /** EventBridge custom events (PutEvents), per 64 KB entry. */
  eventsPut: 1e-6,
  /** SQS standard queue, per request (64 KB chunk). */
  sqsRequest: 0.4e-6,
  /** CloudWatch Logs ingestion (standard class; Lambda's logs in their first 10 TB tier), $ per GB. */
  logsGb: 0.5,
  /** CloudWatch custom metric, $ per metric per month (the embedded metrics: fixed, not per image). */
  metricMonth: 0.3,
  alarmMonth: 0.1,
};

/**
 * Share of invocations that start an execution environment: "cold starts typically occur in under
 * 1% of invocations" (AWS Compute Blog, "Operating Lambda: Performance optimization - Part 1").
 * An assumption of the model; a burst on an idle function starts many more.
 */
export const COLD_START_SHARE = 0.01;

/** CloudWatch Logs counts each event as its message plus 26 bytes (PutLogEvents, in the CloudWatch Logs API Reference). */
export const LOG_EVENT_OVERHEAD = 26;

const REQUEST_ID = '6bc28136-xmpl-4365-b021-0ce6b2e64ab0';
/**
 * The lines Lambda itself writes per invocation, as its documentation shows them: the text format
 * for the original (START, END, REPORT), the JSON format for ours (platform.start,
 * platform.report), which a system log level of WARN drops. Their bytes are counted, not guessed.
 */
export const PLATFORM_LINES = {
  text: [
    `START RequestId: ${REQUEST_ID} Version: $LATEST`,
    `END RequestId: ${REQUEST_ID}`,
    `REPORT RequestId: ${REQUEST_ID}\tDuration: 412.37 ms\tBilled Duration: 413 ms\tMemory Size: 128 MB\tMax Memory Used: 79 MB\t`,
  ],
  json: [
    `{"time":"2026-11-26T10:00:00.000Z","type":"platform.start","record":{"requestId":"${REQUEST_ID}","version":"$LATEST"}}`,
    `{"time":"2026-11-26T10:00:00.412Z","type":"platform.report","record":{"requestId":"${REQUEST_ID}","metrics":{"durationMs":41.23,`
      + '"billedDurationMs":42,"memorySizeMB":256,"maxMemoryUsedMB":98},"status":"success"}}',
  ],
};

export function platformBytes(format: 'text' | 'json'): number {
  return PLATFORM_LINES[format].reduce((a, l) => a + Buffer.byteLength(l) + 1 + LOG_EVENT_OVERHEAD, 0);
}

/** $ per million images, by line item. */
export interface CostLines {
  readonly compute: number;
  readonly init: number;
  readonly invocations: number;
  readonly logs: number;
  readonly s3Get: number;
  readonly s3Put: number;
  readonly events: number;
  readonly sqs: number;
}

export const PROCESSING: (keyof CostLines)[] = ['compute', 'init', 'invocations', 'logs'];
export const REQUESTS: (keyof CostLines)[] = ['s3Get', 's3Put', 'events', 'sqs'];

export function processing(c: CostLines): number {
  return PROCESSING.reduce((a, k) => a + c[k], 0);
}

export function total(c: CostLines): number {
  return processing(c) + REQUESTS.reduce((a, k) => a + c[k], 0);
}

/** One system's configuration in the model. */
export interface Scenario {
  readonly name: string;
  readonly impl: HandlerImpl;
  readonly memoryMb: number;
  readonly arch: 'arm64' | 'x86_64';
  /** Queue mode: records per invocation (the runs with `batch` set). */
  readonly batch?: number;
  /** Lambda's own lines: text (original), json, or none (our system log level WARN). */
  readonly platformLogs: 'text' | 'json' | 'none';
}

export interface ScenarioCost {
  readonly scenario: Scenario;
  readonly size: string;
  readonly lines: CostLines;
  /** The measured inputs behind the lines. */
  readonly billedMsPerImage: number;
  readonly initMs: number;
  readonly logBytesPerImage: number;
  readonly requestsPerImage: Record<string, number>;
  readonly capped: boolean;
}

function rowsOf(h: HandlerCost, s: Scenario, size: string): HandlerCostRow[] {
  return h.rows.filter((r) => r.size === size && r.impl === s.impl && r.memoryMb === s.memoryMb
    && (s.batch ? r.phase === 'batch' && r.batch === s.batch : r.phase === 'billed'));
}

/** The cost of a scenario at a size from the runs that match it (medians over the rounds). */
export function costOf(h: HandlerCost, s: Scenario, size: string): ScenarioCost | undefined {
  const rows = rowsOf(h, s, size);
  if (rows.length === 0) return undefined;
  const billedMs = median(rows.map((r) => r.billedMsPerImage));
  const initMs = median(rows.map((r) => r.initMs));
  const handlerLogBytes = median(rows.map((r) => r.logBytesPerImage + r.logLinesPerImage * LOG_EVENT_OVERHEAD));
  const ops = [...new Set(rows.flatMap((r) => Object.keys(r.requestsPerImage)))];
  const req = Object.fromEntries(ops.map((op) => [op, median(rows.map((r) => r.requestsPerImage[op] ?? 0))]));
  const invocationsPerImage = 1 / (s.batch ?? 1);
  const gb = s.memoryMb / 1024;
  const perGbS = PRICE.lambdaGbSecond[s.arch];
  const platform = s.platformLogs === 'none' ? 0 : platformBytes(s.platformLogs) * invocationsPerImage;
  const M = 1e6;
  const lines: CostLines = {
    compute: M * (billedMs / 1000) * gb * perGbS,
    init: M * invocationsPerImage * COLD_START_SHARE * (Math.ceil(initMs) / 1000) * gb * perGbS,
    invocations: M * invocationsPerImage * PRICE.lambdaRequest,
    logs: M * ((handlerLogBytes + platform) / 1e9) * PRICE.logsGb,
    s3Get: M * ((req.GetObject ?? 0) + (req.HeadObject ?? 0)) * PRICE.s3Get,
    s3Put: M * ((req.PutObject ?? 0) + (req.ListObjects ?? 0)) * PRICE.s3Put,
    events: M * (req.PutEvents ?? 0) * PRICE.eventsPut,
    // Queue mode: S3 sends each notification (1), Lambda receives and deletes each batch (2 per batch).
    sqs: s.batch ? M * (1 + 2 * invocationsPerImage) * PRICE.sqsRequest : 0,
  };
  return {
    scenario: s,
    size,
    lines,
    billedMsPerImage: billedMs,
    initMs,
    logBytesPerImage: handlerLogBytes + platform,
    requestsPerImage: req,
    capped: rows.every((r) => r.capped),
  };
}

export const ORIGINAL: Scenario = { name: 'original (Python, 128 MB, x86_64)', impl: 'original', memoryMb: ORIGINAL_MEMORY_MB, arch: 'x86_64', platformLogs: 'text' };

export function ours(memoryMb: number, o: { events?: boolean; arch?: 'arm64' | 'x86_64'; platformLogs?: 'json' | 'none'; batch?: number } = {}): Scenario {
  const events = o.events ?? true;
  const arch = o.arch ?? 'arm64';
  const platformLogs = o.platformLogs ?? 'none';
  const parts = [`${memoryMb} MB`, arch, events ? 'events on' : 'events off', ...(o.batch ? [`queue, batch ${o.batch}`] : []), ...(platformLogs === 'json' ? ['platform log lines'] : [])];
  return {
    name: `ours (${parts.join(', ')})`,
    impl: o.batch ? 'ours' : events ? 'ours-events' : 'ours',
    memoryMb,
    arch,
    batch: o.batch,
    platformLogs,
  };
}

/** The camera photo every default function must take in both JPEG encodings, megapixels. */
export const REQUIRED_JPEG_MP = 24;

/** A default function takes what the other defaults let through: objects of the default maxInputBytes. */
export function takesDefaultMaxBytes(memoryMb: number): boolean {
  return effectiveMaxBytes({ maxInputBytes: DEFAULTS.maxInputBytes, memoryBudgetBytes: memoryBudgetFor(memoryMb) }) >= DEFAULTS.maxInputBytes;
}

/**
 * The memory sizes a default may have: the handler takes objects of the default maxInputBytes
 * there, and a REQUIRED_JPEG_MP photo as a baseline and as a progressive JPEG (the memlimits
 * measurement, when given; a larger size accepts what a smaller one does).
 */
export function eligibleMemories(limits?: { memoryMb: number; format: string; accepted?: { width: number; height: number } }[]): number[] {
  let least = 0;
  if (limits) {
    const ok = (m: number) => ['baseline JPEG', 'progressive JPEG'].every((f) => limits.some((r) => r.memoryMb === m && r.format.startsWith(f)
      && r.accepted !== undefined && r.accepted.width * r.accepted.height >= REQUIRED_JPEG_MP * 1e6));
    least = [...new Set(limits.map((r) => r.memoryMb))].sort((a, b) => a - b).find(ok) ?? Infinity;
  }
  return MODEL_MEMORY_MB.filter((m) => m >= least && takesDefaultMaxBytes(m));
}

/**
 * The memory size the model picks: the lowest mean total over the original's sizes, with our
 * defaults otherwise (arm64, events on), among the sizes that take a 24 MP photo in either JPEG
 * encoding (all, when that was not measured).
 */
export function pickMemory(h: HandlerCost, sizes: string[], eligible: number[] = MODEL_MEMORY_MB):
{ memoryMb: number; means: Record<number, number> } | undefined {
  const means: Record<number, number> = {};
  for (const m of MODEL_MEMORY_MB.filter((x) => eligible.includes(x))) {
    const costs = sizes.map((size) => costOf(h, ours(m), size)).filter((c): c is ScenarioCost => c !== undefined);
    if (costs.length === sizes.length) means[m] = costs.reduce((a, c) => a + total(c.lines), 0) / costs.length;
  }
  const candidates = Object.entries(means).sort((a, b) => a[1] - b[1]);
  return candidates.length ? { memoryMb: Number(candidates[0][0]), means } : undefined;
}
