/**
 * Simulated service latency for the local endpoints, so that the time a function spends waiting on
 * S3 and EventBridge (which Lambda bills at the function's memory size) can be measured on one
 * machine. Off unless asked for: the local mode answers as fast as loopback allows.
 *
 * The model, per request:
 *   delay = first byte + (request body bytes + response body bytes) / throughput
 * where "first byte" is drawn from a log-normal distribution (a median and a 99th percentile), and
 * throughput is per connection. The defaults come from Amazon's published guidance, not from
 * measurements of ours:
 * - S3 first byte: median 30 ms, p99 200 ms. "Small requests (for example, less than 512 KB) ...
 *   median latencies often in the tens of milliseconds range" (Best Practices Design Patterns:
 *   Optimizing Amazon S3 Performance, "Timeouts and Retries for Latency-Sensitive Applications");
 *   "small object latencies (and first-byte-out latencies with larger objects) of roughly 100-200
 *   milliseconds" (Amazon S3 User Guide, "Performance design patterns for Amazon S3", on caching);
 *   a Lambda function measured PUTs to a bucket in its own Region at 60-133 ms
 *   (kkc.github.io/2020/03/16/s3-latency). We take tens of ms as a 30 ms median and the upper end
 *   of 100-200 ms as the 99th percentile.
 * - S3 throughput per connection: 88 MB/s, the middle of "one concurrent request for each 85-90
 *   MB/s of desired network throughput" (Amazon S3 User Guide, "Horizontal scaling of storage
 *   connections").
 * - EventBridge PutEvents: median 20 ms, p99 100 ms. AWS publishes no latency figure for PutEvents;
 *   this is an assumption (a small JSON API call in the same Region), stated as one.
 * Draws come from a seeded generator, so two runs with the same seed wait the same.
 */

/** A log-normal first-byte delay and a per-connection throughput. */
export interface LatencyProfile {
  /** Median time to first byte, ms. */
  readonly medianMs: number;
  /** 99th percentile time to first byte, ms (at least the median). */
  readonly p99Ms: number;
  /** Bytes per second each way; 0 for no transfer time. */
  readonly bytesPerSecond: number;
}

export const S3_LATENCY: LatencyProfile = { medianMs: 30, p99Ms: 200, bytesPerSecond: 88e6 };
export const EVENTS_LATENCY: LatencyProfile = { medianMs: 20, p99Ms: 100, bytesPerSecond: 0 };

/** The z-score of the 99th percentile of a standard normal distribution. */
const Z99 = 2.3263478740408408;

/** mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1). */
/* eslint-disable no-bitwise */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/* eslint-enable no-bitwise */

export class Latency {
  private readonly random: () => number;
  private readonly sigma: number;
  private spare?: number;

  constructor(readonly profile: LatencyProfile, seed = 1) {
    if (!(profile.medianMs >= 0) || !(profile.p99Ms >= profile.medianMs) || !(profile.bytesPerSecond >= 0)) {
      throw new Error(`latency profile needs 0 <= median <= p99 and a throughput >= 0, got ${JSON.stringify(profile)}`);
    }
    this.random = mulberry32(seed);
    this.sigma = profile.medianMs > 0 ? Math.log(profile.p99Ms / profile.medianMs) / Z99 : 0;
  }

  /** A first-byte delay, ms. */
  firstByteMs(): number {
    if (this.profile.medianMs === 0) return 0;
    return this.profile.medianMs * Math.exp(this.sigma * this.normal());
  }

  /** Transfer time of `bytes` at the profile's throughput, ms. */
  transferMs(bytes: number): number {
    return this.profile.bytesPerSecond > 0 ? (bytes * 1000) / this.profile.bytesPerSecond : 0;
  }

  /** A standard normal draw (Box-Muller, both values used). */
  private normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

interface Delayable {
  headers: Record<string, string | string[] | undefined>;
}

interface EndableResponse {
  write: (...args: never[]) => boolean;
  end: (...args: never[]) => unknown;
}

/**
 * Applies `latency` to one HTTP exchange: `handle` runs after the first-byte delay and the request
 * body's transfer time (from its Content-Length), and the response's end is held back by the
 * transfer time of the bytes written. Resolves when `handle` does.
 */
export async function withLatency(latency: Latency, req: Delayable, res: EndableResponse, handle: () => Promise<void>): Promise<void> {
  const bytesIn = Number(req.headers['content-length'] ?? 0) || 0;
  await sleep(latency.firstByteMs() + latency.transferMs(bytesIn));
  let bytesOut = 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => unknown;
  const count = (chunk: unknown) => {
    if (typeof chunk === 'string') bytesOut += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) bytesOut += chunk.byteLength;
  };
  (res as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
    count(chunk);
    return write(chunk, ...rest);
  };
  (res as { end: unknown }).end = (...args: unknown[]) => {
    if (typeof args[0] !== 'function') count(args[0]);
    const ms = latency.transferMs(bytesOut);
    if (ms <= 0) return end(...args);
    setTimeout(() => end(...args), ms);
    return res;
  };
  await handle();
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
