/**
 * One execution environment of our handler, driven as Lambda drives it (spawned by
 * bench/handler-cost-worker.ts, possibly under a memory size's limits; bundled by esbuild).
 *
 *   node handler-driver.js JOB.json
 *
 * Requires the handler bundle (its init: the cold start), runs the warm-up invocations, then the
 * measured ones one after another, and prints one JSON line (DriverResult): the CPU time of this
 * process over the measured invocations, and each invocation's duration. The handler's own stdout
 * (its log lines) is counted, in bytes, and not echoed. Measures; asserts nothing.
 */
import * as fs from 'fs';
import type { DriverJob, DriverResult } from './jobs';

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as DriverJob;
  // The handler's log lines go to stdout, as in Lambda: count them, keep them off our own output.
  const out = process.stdout.write.bind(process.stdout);
  let logBytes = 0;
  let logLines = 0;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    logBytes += Buffer.byteLength(text);
    logLines += text.split('\n').filter(Boolean).length;
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;

  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const handler = require(job.handlerPath).handler as (event: unknown, context: unknown) => Promise<unknown>;
  const initMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const initCpu = process.cpuUsage(c0);
  const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 30_000 };

  for (const event of job.warmup) await handler(event, context);
  const lines0 = logLines;
  const bytes0 = logBytes;
  const c1 = process.cpuUsage();
  const durations: number[] = [];
  const results: unknown[] = [];
  for (const event of job.invocations) {
    const s = process.hrtime.bigint();
    results.push(await handler(event, context));
    durations.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const cpu = process.cpuUsage(c1);
  const result: DriverResult = {
    initMs,
    initCpuMs: (initCpu.user + initCpu.system) / 1000,
    cpuMs: (cpu.user + cpu.system) / 1000,
    durationsMs: durations,
    logBytes: logBytes - bytes0,
    logLines: logLines - lines0,
    failures: results.filter((r) => failed(r)).length,
  };
  out(`${JSON.stringify(result)}\n`);
}

/** An S3-notification result with nothing processed, or an SQS result with batch item failures. */
function failed(r: unknown): boolean {
  const x = r as { processed?: number; batchItemFailures?: unknown[] } | undefined;
  if (x?.batchItemFailures) return x.batchItemFailures.length > 0;
  return !x || x.processed === 0;
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
