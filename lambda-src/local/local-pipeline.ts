/**
 * The whole pipeline on one machine: the S3 endpoint with the input and output buckets, its
 * ObjectCreated notifications filtered as the construct's are, and the local Lambda that runs the
 * shipped handler on each.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EVENT_SOURCE, validatePipelineConfig, type PipelineConfig } from '../config';
import { decodeKey, type S3EventRecord } from '../s3-event';
import { shippedAssets, type ShippedAssets } from './assets';
import { EventBus, type DeliveredEvent } from './aws-api/event-bus';
import { AwsApiServer } from './aws-api/server';
import { LambdaPool, type InvocationDone, type InvocationFailed } from './lambda/lambda-pool';
import { S3Server } from './s3/server';

export const DEFAULT_INPUT_BUCKET = 'input';
export const DEFAULT_OUTPUT_BUCKET = 'output';
export const LOCAL_FUNCTION_NAME = 'image-pipeline';

export interface LocalPipelineOptions {
  /** Folder for the buckets and the failure queue. */
  readonly dataDir: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /**
   * A PIPELINE_CONFIG document; the bucket names default to `input` and `output`.
   * @default - the construct's defaults
   */
  readonly config?: Record<string, unknown>;
  /** Key suffixes that trigger processing, as the construct's `inputSuffixes`. @default - all keys */
  readonly inputSuffixes?: string[];
  /** Execution environments at once. @default 2 */
  readonly concurrency?: number;
  /** @default 2 */
  readonly retryAttempts?: number;
  /** @default [1000, 2000] */
  readonly retryDelaysMs?: number[];
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** Override the shipped handler or worker (tests). */
  readonly assets?: Partial<ShippedAssets>;
}

/**
 * Reads a PIPELINE_CONFIG document for local use: bucket names default to `input` and `output`,
 * and events go to the `default` bus (the local events sink).
 */
export function localConfig(doc: Record<string, unknown> = {}): PipelineConfig {
  return validatePipelineConfig({
    inputBucket: DEFAULT_INPUT_BUCKET,
    outputBucket: DEFAULT_OUTPUT_BUCKET,
    events: { eventBusName: 'default', source: EVENT_SOURCE },
    ...doc,
  });
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the config file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`the config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Emits `done` (InvocationDone), `failed` (InvocationFailed), `invoke` (the S3 event), `event`
 * (an EventBridge event the handler sent, as delivered) and `log`.
 */
export class LocalPipeline extends EventEmitter {
  readonly config: PipelineConfig;
  readonly server: S3Server;
  readonly failureQueueDir: string;
  readonly assets: ShippedAssets;
  /** The local EventBridge sink: events also land in `<dataDir>/events.jsonl`. */
  readonly events: EventBus;
  /** The local Lambda and EventBridge APIs (Invoke, PutEvents). */
  private readonly api: AwsApiServer;
  private pool?: LambdaPool;
  private taskDir?: string;

  constructor(private readonly options: LocalPipelineOptions) {
    super();
    this.config = localConfig(options.config);
    const shipped = options.assets?.handlerPath && options.assets?.workerPath ? undefined : shippedAssets();
    this.assets = { ...shipped!, ...options.assets } as ShippedAssets;
    this.failureQueueDir = path.join(path.resolve(options.dataDir), 'failure-queue');
    this.events = new EventBus(path.join(path.resolve(options.dataDir), 'events.jsonl'));
    this.api = new AwsApiServer(this.events, options.host ?? '127.0.0.1', (_functionName, payload) => this.invoke(payload));
    this.events.on('event', (e: DeliveredEvent) => this.emit('event', e));
    this.server = new S3Server({
      dataDir: options.dataDir,
      host: options.host,
      port: options.port,
      buckets: [...new Set([this.config.inputBucket!, this.config.outputBucket])],
    });
  }

  get inputBucket(): string {
    return this.config.inputBucket!;
  }

  get outputBucket(): string {
    return this.config.outputBucket;
  }

  get endpoint(): string {
    return this.server.endpoint;
  }

  /** Events waiting or running. */
  get pending(): number {
    return this.pool?.pending ?? 0;
  }

  async start(): Promise<string> {
    const endpoint = await this.server.start();
    const eventsEndpoint = await this.api.start();
    // The handler runs from a copy in a folder of its own, as from Lambda's /var/task: `sharp`
    // then resolves to the layer on NODE_PATH, never to a node_modules the package sits in.
    this.taskDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-task-'));
    const handlerPath = path.join(this.taskDir, path.basename(this.assets.handlerPath));
    fs.copyFileSync(this.assets.handlerPath, handlerPath);
    this.pool = new LambdaPool({
      handlerPath,
      workerPath: this.assets.workerPath,
      layerPaths: this.assets.layerPath ? [this.assets.layerPath] : [],
      environment: {
        PIPELINE_CONFIG: JSON.stringify(this.config),
        PIPELINE_S3_ENDPOINT: endpoint,
        PIPELINE_EVENTS_ENDPOINT: eventsEndpoint,
      },
      failureQueueDir: this.failureQueueDir,
      concurrency: this.options.concurrency,
      retryAttempts: this.options.retryAttempts,
      retryDelaysMs: this.options.retryDelaysMs,
      timeoutMs: this.options.timeoutMs,
    });
    this.pool.on('done', (d: InvocationDone) => this.emit('done', d));
    this.pool.on('failed', (f: InvocationFailed) => this.emit('failed', f));
    this.pool.on('log', (line: string) => this.emit('log', line));
    this.server.on('event', (event: { Records: S3EventRecord[] }) => this.onS3Event(event));
    return endpoint;
  }

  /** The name the local function answers to on the Lambda Invoke API. */
  get functionName(): string {
    return LOCAL_FUNCTION_NAME;
  }

  /** The local stand-in for the Lambda and EventBridge APIs (Invoke, PutEvents). */
  get apiEndpoint(): string {
    return this.api.endpoint;
  }

  /** Queues an asynchronous invocation of the handler, as Lambda's Invoke with InvocationType Event. */
  invoke(event: unknown): string {
    if (!this.pool) throw new Error('the local pipeline is not started');
    this.emit('invoke', event);
    return this.pool.invoke(event);
  }

  /** Resolves when no event is waiting or running. */
  async idle(): Promise<void> {
    await this.pool?.idle();
  }

  /**
   * Stops the endpoint, then the local Lambda: running and queued events finish within
   * `graceMs`, and what is left goes to the failure queue.
   */
  async stop(graceMs = 30_000): Promise<void> {
    await this.server.stop();
    await this.pool?.shutdown(graceMs);
    await this.api.stop();
    if (this.taskDir) fs.rmSync(this.taskDir, { recursive: true, force: true });
  }

  /** The notification filter of the construct: the input bucket, ObjectCreated, prefix, suffixes. */
  private onS3Event(event: { Records: S3EventRecord[] }): void {
    const record = event.Records[0];
    if (record.s3.bucket.name !== this.inputBucket || !record.eventName.startsWith('ObjectCreated:')) return;
    const key = decodeKey(record.s3.object.key);
    if (!key.startsWith(this.config.inputPrefix)) return;
    const suffixes = this.options.inputSuffixes ?? [];
    if (suffixes.length > 0 && !suffixes.some((s) => key.endsWith(s))) return;
    this.invoke(event);
  }
}
