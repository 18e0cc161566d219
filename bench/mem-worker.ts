/**
 * Worker of bench/mem-limits.ts (bundled by it with esbuild; `sharp` is never imported here).
 *
 *   node mem-worker.js serve DIR              a stand-in S3 endpoint on loopback: GET and HEAD of
 *                                             /in/<file> serve DIR/<file>; any other key is missing;
 *                                             PUT is taken and dropped. Prints {"port": N}.
 *   node mem-worker.js handle HANDLER KEY...  loads the handler bundle as Lambda does (its init
 *                                             creates the clients), has it process KEY... one S3
 *                                             event each, and prints one MemHandled line per key
 *                                             and a last MemPeak line. Run under lambda-limits.ts,
 *                                             with PIPELINE_S3_ENDPOINT pointing at `serve`;
 *                                             MEM_BENCH_BALLAST_MB of memory held throughout.
 *
 * The endpoint is another process, outside the measured one, so the handler process holds only
 * what it would hold in Lambda.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { emit, type MemHandled, type MemPeak } from './jobs';

const ETAG = '"0123456789abcdef0123456789abcdef"';

function serve(dir: string): void {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [, bucket, ...rest] = url.pathname.split('/');
    const file = path.join(dir, path.basename(decodeURIComponent(rest.join('/'))));
    if (req.method === 'PUT' || req.method === 'POST') {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { ETag: ETAG });
        res.end();
      });
      return;
    }
    if (bucket === 'in' && rest.length > 0 && fs.existsSync(file)) {
      res.writeHead(200, { 'ETag': ETAG, 'Content-Length': fs.statSync(file).size, 'Content-Type': 'application/octet-stream' });
      if (req.method === 'HEAD') res.end();
      else fs.createReadStream(file).pipe(res);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/xml' });
    res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
  });
  server.listen(0, '127.0.0.1', () => emit({ port: (server.address() as AddressInfo).port }));
}

/** The RSS high-water mark of this process (VmHWM), KiB. */
function hwmKb(): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/** Anonymous memory held for the whole run (MEM_BENCH_BALLAST_MB, touched so that it counts). */
let ballast: Buffer | undefined;

async function handle(handlerPath: string, keys: string[]): Promise<void> {
  const ballastMb = Number(process.env.MEM_BENCH_BALLAST_MB ?? 0);
  if (ballastMb > 0) ballast = Buffer.alloc(ballastMb * 1024 * 1024, 1);
  // The bundle's require('sharp') resolves through NODE_PATH (the layer), as in Lambda.
  const { handler } = module.require(handlerPath) as { handler: (event: unknown) => Promise<{ outcomes: { status: string; reason?: string }[] }> };
  let n = 0;
  for (const key of keys) {
    const size = fs.statSync(path.join(process.env.MEM_BENCH_DIR!, key)).size;
    const event = {
      Records: [{
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: process.env.AWS_REGION,
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'in', arn: 'arn:aws:s3:::in' }, object: { key, size, eTag: ETAG.replace(/"/g, ''), sequencer: (++n).toString(16).toUpperCase().padStart(18, '0') } },
      }],
    };
    const t0 = process.hrtime.bigint();
    let line: MemHandled;
    try {
      const r = await handler(event);
      const o = r.outcomes[0];
      line = { key, status: o?.status ?? 'none', reason: o?.reason, ms: Number(process.hrtime.bigint() - t0) / 1e6, rssHwmKb: hwmKb() };
    } catch (e) {
      line = { key, status: 'error', reason: (e as Error).message.slice(0, 300), ms: Number(process.hrtime.bigint() - t0) / 1e6, rssHwmKb: hwmKb() };
    }
    emit(line);
  }
  emit<MemPeak>({ peakRssKb: hwmKb(), ballastMb: ballast ? ballast.length / 1048576 : 0 });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  serve(args[0]);
} else if (mode === 'handle') {
  handle(args[0], args.slice(1)).catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(2);
  });
} else {
  process.stderr.write('usage: mem-worker.js serve DIR | handle HANDLER KEY...\n');
  process.exit(2);
}
