/**
 * Lambda's asynchronous invocation, on one machine: a queue, a bounded pool of worker processes
 * (each one execution environment running the shipped handler bundle with the shipped layer),
 * Lambda's retry policy, and an on-failure destination that is a folder of JSON records.
 */
import { ChildProcess, fork } from 'child_process';
import { randomUUID } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import type { InvokeMessage, WorkerMessage } from './protocol';
import { DEFAULTS } from '../../../src/contract';

export interface LambdaPoolOptions {
  /** The handler bundle (a file exporting `handler`). */
  readonly handlerPath: string;
  /** The worker script (lambda-worker bundle). */
  readonly workerPath: string;
  /** Folders put on NODE_PATH, as Lambda puts `/opt/nodejs/node_modules`. */
  readonly layerPaths: string[];
  /** The function's environment variables. */
  readonly environment: Record<string, string>;
  /** Where events that failed every attempt are written, one JSON file each. */
  readonly failureQueueDir: string;
  /** @default 2 (Lambda's own default) */
  readonly concurrency?: number;
  /** @default 2 */
  readonly retryAttempts?: number;
  /** Delays before each retry. Lambda waits about a minute, then two. @default [1000, 2000] */
  readonly retryDelaysMs?: number[];
  /** Events older than this are not tried again. @default 6 hours */
  readonly maxEventAgeMs?: number;
  /** One invocation longer than this is stopped, as a Lambda timeout. @default - the construct's default timeout */
  readonly timeoutMs?: number;
  /** @default 'image-pipeline' */
  readonly functionName?: string;
  /** The function's memory in MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE). @default - the construct's default memory */
  readonly memorySize?: number;
}

/** What Lambda sends to an on-failure destination. */
export interface FailureDestinationRecord {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetriesExhausted' | 'EventAgeExceeded' | 'Shutdown';
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responseContext: { readonly statusCode: number; readonly executedVersion: string; readonly functionError: string };
  readonly responsePayload: { readonly errorType: string; readonly errorMessage: string };
}

export interface InvocationDone {
  readonly requestId: string;
  readonly event: unknown;
  readonly result: unknown;
  readonly attempts: number;
  readonly enqueuedAt: number;
  readonly finishedAt: number;
}

export interface InvocationFailed {
  readonly requestId: string;
  readonly event: unknown;
  readonly record: FailureDestinationRecord;
  readonly file: string;
}

interface Pending {
  readonly requestId: string;
  readonly event: unknown;
  readonly enqueuedAt: number;
  attempts: number;
  notBefore: number;
  lastError?: { errorType: string; errorMessage: string };
}

interface Worker {
  readonly child: ChildProcess;
  ready: boolean;
  busy?: { job: Pending; timer: NodeJS.Timeout };
  initError?: { errorType: string; errorMessage: string };
}

/**
 * Emits `done` (InvocationDone) and `failed` (InvocationFailed) for each event, and `log` lines
 * from the workers' stdout/stderr.
 */
export class LambdaPool extends EventEmitter {
  /** The request ids the failure queue holds records for (to know a replayed event that already ended there). */
  static failureRecordIds(failureQueueDir: string): Set<string> {
    if (!fs.existsSync(failureQueueDir)) return new Set();
    return new Set(fs.readdirSync(failureQueueDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(-41, -5)));
  }

  private readonly queue: Pending[] = [];
  private readonly workers = new Set<Worker>();
  private readonly concurrency: number;
  private readonly retryAttempts: number;
  private readonly retryDelays: number[];
  private readonly maxEventAgeMs: number;
  private readonly timeoutMs: number;
  private readonly functionName: string;
  private stopping = false;
  private wakeTimer?: NodeJS.Timeout;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: LambdaPoolOptions) {
    super();
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.retryAttempts = options.retryAttempts ?? 2;
    this.retryDelays = options.retryDelaysMs ?? [1000, 2000];
    this.maxEventAgeMs = options.maxEventAgeMs ?? 6 * 3600 * 1000;
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutSeconds * 1000;
    this.functionName = options.functionName ?? 'image-pipeline';
    fs.mkdirSync(options.failureQueueDir, { recursive: true });
  }

  /** Events queued or running. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /**
   * Queues an asynchronous invocation, as `InvocationType: 'Event'`; returns its request id.
   * An event taken before (replayed from a journal) keeps its request id and its age.
   */
  invoke(event: unknown, taken: { requestId?: string; enqueuedAt?: number } = {}): string {
    if (this.stopping) throw new Error('the local Lambda is shutting down');
    const job: Pending = { requestId: taken.requestId ?? randomUUID(), event, enqueuedAt: taken.enqueuedAt ?? Date.now(), attempts: 0, notBefore: 0 };
    this.queue.push(job);
    this.schedule();
    return job.requestId;
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking events. What is running finishes; what is queued runs too if it can within
   * `graceMs`. What is left then goes to the failure queue (`leftovers: 'fail'`, so no event is
   * lost), or, with `leftovers: 'keep'` (the caller has the events journaled and runs them at its
   * next start), is dropped: running invocations are stopped and nothing is recorded for them.
   * Resolves with the request ids of the events left.
   */
  async shutdown(graceMs = 30_000, leftovers: 'fail' | 'keep' = 'fail'): Promise<string[]> {
    this.stopping = true;
    // Retries waiting for their delay are due now.
    for (const job of this.queue) job.notBefore = 0;
    this.schedule();
    const left: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const job of this.queue.splice(0)) {
        left.push(job.requestId);
        if (leftovers === 'fail') this.fail(job, 'Shutdown');
      }
      for (const w of this.workers) {
        if (w.busy) {
          clearTimeout(w.busy.timer);
          left.push(w.busy.job.requestId);
          if (leftovers === 'fail') this.fail(w.busy.job, 'Shutdown');
          w.busy = undefined;
          this.inFlight--;
          // Stopped at once: nothing it does after this would be recorded.
          w.child.kill('SIGKILL');
        }
      }
    }
    clearTimeout(this.wakeTimer);
    for (const w of this.workers) w.child.kill();
    this.workers.clear();
    this.checkIdle();
    return left;
  }

  private schedule(): void {
    clearTimeout(this.wakeTimer);
    const now = Date.now();
    while (true) {
      const index = this.queue.findIndex((j) => j.notBefore <= now);
      if (index < 0) break;
      const worker = [...this.workers].find((w) => w.ready && !w.busy);
      if (!worker) break;
      const [job] = this.queue.splice(index, 1);
      this.run(worker, job);
    }
    // Start as many environments as there are events waiting, up to the concurrency.
    const due = this.queue.filter((j) => j.notBefore <= now).length;
    const starting = [...this.workers].filter((w) => !w.ready).length;
    const more = Math.min(this.concurrency - this.workers.size, due - starting);
    if (!this.stopping || due > 0) {
      for (let i = 0; i < more; i++) this.spawn();
    }
    const next = this.queue.reduce((t, j) => Math.min(t, j.notBefore), Infinity);
    if (next !== Infinity && next > now) {
      this.wakeTimer = setTimeout(() => this.schedule(), next - now);
    }
  }

  private spawn(): void {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      NODE_PATH: this.options.layerPaths.join(path.delimiter),
      NODE_NO_WARNINGS: '1',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_LAMBDA_FUNCTION_NAME: this.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.options.memorySize ?? DEFAULTS.memorySizeMb),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      ...this.options.environment,
    };
    const child = fork(this.options.workerPath, [this.options.handlerPath], {
      env,
      cwd: path.dirname(this.options.handlerPath),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [],
      serialization: 'advanced',
    });
    const worker: Worker = { child, ready: false };
    this.workers.add(worker);
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) this.emit('log', line);
      });
    }
    child.on('message', (msg: WorkerMessage) => this.onMessage(worker, msg));
    child.on('exit', (code, signal) => this.onExit(worker, code, signal));
    child.on('error', (e) => this.emit('log', JSON.stringify({ level: 'ERROR', message: `worker error: ${e.message}` })));
  }

  private run(worker: Worker, job: Pending): void {
    job.attempts++;
    this.inFlight++;
    const deadlineMs = Date.now() + this.timeoutMs;
    const timer = setTimeout(() => {
      this.emit('log', JSON.stringify({ level: 'ERROR', message: `Task timed out after ${this.timeoutMs} ms`, requestId: job.requestId }));
      job.lastError = { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${this.timeoutMs} ms` };
      worker.child.kill('SIGKILL');
    }, this.timeoutMs);
    worker.busy = { job, timer };
    const message: InvokeMessage = { type: 'invoke', requestId: job.requestId, event: job.event, deadlineMs };
    worker.child.send(message);
  }

  private onMessage(worker: Worker, msg: WorkerMessage): void {
    if (msg.type === 'ready') {
      worker.ready = true;
      this.emit('init', msg.initMs);
      this.schedule();
      return;
    }
    if (msg.type === 'init-error') {
      worker.initError = { errorType: msg.errorType, errorMessage: msg.errorMessage };
      this.emit('log', JSON.stringify({ level: 'FATAL', message: `init failed: ${msg.errorType}: ${msg.errorMessage}` }));
      return;
    }
    const busy = worker.busy;
    if (!busy || busy.job.requestId !== msg.requestId) return;
    clearTimeout(busy.timer);
    worker.busy = undefined;
    this.inFlight--;
    if (msg.ok) {
      const done: InvocationDone = {
        requestId: busy.job.requestId,
        event: busy.job.event,
        result: msg.result,
        attempts: busy.job.attempts,
        enqueuedAt: busy.job.enqueuedAt,
        finishedAt: Date.now(),
      };
      this.emit('done', done);
    } else {
      this.retryOrFail(busy.job, { errorType: msg.errorType, errorMessage: msg.errorMessage });
    }
    this.schedule();
    this.checkIdle();
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.workers.delete(worker);
    if (worker.busy) {
      clearTimeout(worker.busy.timer);
      const job = worker.busy.job;
      worker.busy = undefined;
      this.inFlight--;
      this.retryOrFail(job, job.lastError ?? {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${job.requestId} Error: Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`,
      });
    } else if (worker.initError && !this.stopping) {
      // Lambda fails every invocation that lands on an environment whose init failed.
      const waiting = this.queue.filter((j) => j.notBefore <= Date.now());
      for (const job of waiting) {
        this.queue.splice(this.queue.indexOf(job), 1);
        job.attempts++;
        this.retryOrFail(job, { errorType: `Runtime.${worker.initError.errorType}`, errorMessage: worker.initError.errorMessage });
      }
    }
    if (!this.stopping) this.schedule();
    this.checkIdle();
  }

  private retryOrFail(job: Pending, error: { errorType: string; errorMessage: string }): void {
    job.lastError = error;
    const age = Date.now() - job.enqueuedAt;
    if (age > this.maxEventAgeMs) {
      this.fail(job, 'EventAgeExceeded');
    } else if (job.attempts > this.retryAttempts) {
      this.fail(job, 'RetriesExhausted');
    } else {
      const delay = this.stopping ? 0 : this.retryDelays[Math.min(job.attempts - 1, this.retryDelays.length - 1)] ?? 0;
      job.notBefore = Date.now() + delay;
      this.queue.push(job);
    }
  }

  private fail(job: Pending, condition: FailureDestinationRecord['requestContext']['condition']): void {
    const record: FailureDestinationRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: job.requestId,
        functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${this.functionName}:$LATEST`,
        condition,
        approximateInvokeCount: job.attempts,
      },
      requestPayload: job.event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: job.lastError ?? { errorType: 'Shutdown', errorMessage: 'the local Lambda stopped before this event ran' },
    };
    const file = path.join(this.options.failureQueueDir, `${record.timestamp.replace(/[:.]/g, '-')}-${job.requestId}.json`);
    // Durable before it counts: a crash leaves the whole record or none (then the event runs again).
    const fd = fs.openSync(`${file}.tmp`, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(record, null, 2));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(`${file}.tmp`, file);
    const failed: InvocationFailed = { requestId: job.requestId, event: job.event, record, file };
    this.emit('failed', failed);
  }

  private checkIdle(): void {
    if (this.pending === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
