/**
 * The benchmark's cost model: line items computed from measured runs (synthetic runs here, whose
 * costs are worked out by hand below).
 */
import { costOf, eligibleMemories, ours, ORIGINAL, platformBytes, processing, total } from '../bench/cost-model';
import type { HandlerCost } from '../bench/handler-cost';
import type { HandlerCostRow } from '../bench/jobs';

function row(o: Partial<HandlerCostRow>): HandlerCostRow {
  return {
    phase: 'billed',
    round: 0,
    size: '1200x800',
    impl: 'ours',
    memoryMb: 512,
    images: 10,
    cpuMsPerImage: 20,
    wallMsPerImage: 100,
    billedMsPerImage: 100,
    initMs: 200,
    initCpuMs: 150,
    logBytesPerImage: 274,
    logLinesPerImage: 1,
    requestsPerImage: { GetObject: 1, PutObject: 1, HeadObject: 1 },
    failures: 0,
    capped: true,
    how: 'test',
    ...o,
  };
}

function cost(rows: HandlerCostRow[]): HandlerCost {
  return { rows, images: 10, rounds: 1, billedImages: 10, billedRounds: 1, batchMemory: 512, errors: '' };
}

describe('cost model', () => {
  test('one image per invocation: every line item, by hand', () => {
    // 100 ms at 0.5 GB on arm64 is 0.05 GB-s, $0.666670 per million at $0.0000133334 per GB-s.
    // Init: 1% of a million invocations x 0.2 s x 0.5 GB x $0.0000133334 = $0.0133334.
    // Logs: 274 + 26 bytes a line = 300 bytes, 0.3 GB per million at $0.50 = $0.15.
    // S3: a GET and a HEAD at $0.40 per million each; a PUT at $5.00; no events, no SQS.
    const c = costOf(cost([row({})]), ours(512, { events: false }), '1200x800')!;
    expect(c.lines.compute).toBeCloseTo(0.66667, 4);
    expect(c.lines.init).toBeCloseTo(0.0133334, 6);
    expect(c.lines.invocations).toBeCloseTo(0.2, 9);
    expect(c.lines.logs).toBeCloseTo(0.15, 9);
    expect(c.lines.s3Get).toBeCloseTo(0.8, 9);
    expect(c.lines.s3Put).toBeCloseTo(5, 9);
    expect(c.lines.events).toBe(0);
    expect(c.lines.sqs).toBe(0);
    expect(processing(c.lines)).toBeCloseTo(0.66667 + 0.0133334 + 0.2 + 0.15, 4);
    expect(total(c.lines)).toBeCloseTo(processing(c.lines) + 5.8, 9);
  });

  test('queue batches of 10: a tenth of the invocations and inits, SQS at 1 + 2/10 requests an image', () => {
    const c = costOf(cost([row({ phase: 'batch', batch: 10 })]), ours(512, { events: false, batch: 10 }), '1200x800')!;
    expect(c.lines.invocations).toBeCloseTo(0.02, 9);
    expect(c.lines.init).toBeCloseTo(0.00133334, 7);
    expect(c.lines.sqs).toBeCloseTo(1.2 * 0.4, 9);
  });

  test('the original pays x86 prices and Lambda\'s three text lines per invocation', () => {
    const c = costOf(cost([row({ impl: 'original', memoryMb: 128, logBytesPerImage: 0, logLinesPerImage: 0, requestsPerImage: { GetObject: 1, PutObject: 1 } })]),
      ORIGINAL, '1200x800')!;
    // 100 ms at 0.125 GB on x86_64: 0.0125 GB-s x $0.0000166667 = $0.20833 per million.
    expect(c.lines.compute).toBeCloseTo(0.208334, 5);
    expect(c.lines.logs).toBeCloseTo((platformBytes('text') / 1e9) * 0.5 * 1e6, 9);
    expect(platformBytes('text')).toBeGreaterThan(3 * 26);
    expect(c.lines.s3Get).toBeCloseTo(0.4, 9);
  });

  test('no runs, no cost', () => {
    expect(costOf(cost([]), ours(512), '1200x800')).toBeUndefined();
  });

  test('a default memory size takes the default 50 MiB objects and 24 MP JPEGs of both kinds', () => {
    // (256 - 100) MiB / 4 = 39 MiB < 50 MiB; (512 - 100) / 4 = 103 MiB.
    expect(eligibleMemories()).toEqual([512, 1024]);
    const limits = [
      { memoryMb: 512, format: 'baseline JPEG (q90)', accepted: { width: 6000, height: 4000 } },
      { memoryMb: 512, format: 'progressive JPEG (q90)', accepted: { width: 3000, height: 2000 } },
    ];
    expect(eligibleMemories(limits)).toEqual([]);
  });
});
