/**
 * `image-pipeline serve` (the bundled CLI) as a child process of its own process group, so a test
 * can kill it and its worker processes at once, and wait on what it prints.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { FailureDestinationRecord } from '../lambda-src/local/lambda/lambda-pool';
import { decodeKey } from '../lambda-src/s3-event';

export const CLI = path.join(__dirname, '..', 'assets', 'lambda-src', 'local', 'cli', 'index.js');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class Served {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { this.stdout += d; this.wake(); });
    child.stderr!.on('data', (d: string) => { this.stderr += d; this.wake(); });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => { this.wake(); resolve({ code, signal }); }));
  }

  /** Resolves with the first match of `re` in stdout, as soon as it is printed. */
  async waitFor(re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
    return this.wait(() => re.exec(this.stdout), re, ms);
  }

  /** Resolves as soon as `count` lines of stdout match `re`, with the last of them. */
  async waitForLines(re: RegExp, count: number, ms = 30_000): Promise<RegExpExecArray> {
    return this.wait(() => this.stdout.split('\n').map((l) => re.exec(l)).filter((m) => m)[count - 1] ?? null, re, ms);
  }

  private async wait(found: () => RegExpExecArray | null, re: RegExp, ms: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = found();
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`serve exited before printing ${re}:\n${this.stdout}\n${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`serve did not print ${re} in ${ms} ms:\n${this.stdout}\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** SIGKILL to serve and its workers, at once. */
  killGroup(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Starts `image-pipeline serve --port 0 <args>` and waits for its endpoint. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ served: Served; endpoint: string }> {
  const child = spawn('node', [CLI, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, ...env },
  });
  const served = new Served(child);
  try {
    const m = await served.waitFor(/serving an S3 endpoint at (http:\/\/\S+)/);
    // the banner's last line: Ctrl-C is taken from then on
    await served.waitFor(/^Ctrl-C stops/m);
    return { served, endpoint: m[1] };
  } catch (e) {
    served.killGroup();
    throw e;
  }
}

export function s3Client(endpoint: string, credentials = { accessKeyId: 'any', secretAccessKey: 'thing' }): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 });
}

export async function listAll(s3: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(res.Contents ?? []).map((c) => c.Key!));
    token = res.NextContinuationToken;
  } while (token);
  return keys.sort();
}

/** The input keys of the failure queue's records, one entry per record. */
export function failureQueueKeys(dataDir: string): string[] {
  const dir = path.join(dataDir, 'failure-queue');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => {
    const record = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FailureDestinationRecord;
    return decodeKey((record.requestPayload as { Records: { s3: { object: { key: string } } }[] }).Records[0].s3.object.key);
  }).sort();
}

/**
 * For each key, in how many ways it ended: its output, its failure record, its failure-queue
 * records. Every acknowledged upload must end in exactly one.
 */
export async function endings(s3: S3Client, dataDir: string, keys: string[], variant = 'grayscale-256'): Promise<Map<string, string[]>> {
  const outputs = new Set(await listAll(s3, 'output'));
  const queued = failureQueueKeys(dataDir);
  return new Map(keys.map((k) => [k, [
    ...(outputs.has(`${variant}/${k}`) ? ['output'] : []),
    ...(outputs.has(`_failed/${k}.json`) ? ['failure record'] : []),
    ...queued.filter((q) => q === k).map(() => 'failure queue'),
  ]]));
}
