/**
 * The whole pipeline on one machine: the S3 endpoint with the input and output buckets, its
 * ObjectCreated notifications filtered as the construct's are, and the local Lambda that runs the
 * shipped handler on each.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULTS, EVENT_SOURCE } from '../../src/contract';
import { validatePipelineConfig, type PipelineConfig } from '../config';
import { decodeKey, type S3EventRecord } from '../s3-event';
import { shippedAssets, type ShippedAssets } from './assets';
import { EventBus, type DeliveredEvent } from './aws-api/event-bus';
import { AwsApiServer } from './aws-api/server';
import { EventJournal, type JournalEntry } from './lambda/event-journal';
import { LambdaPool, type InvocationDone, type InvocationFailed } from './lambda/lambda-pool';
import { S3Server } from './s3/server';
import { LocalUploadApi, pageUrl, type LocalUploadApiOptions } from './upload-api-server';

export const DEFAULT_INPUT_BUCKET = 'input';
export const DEFAULT_OUTPUT_BUCKET = 'output';
export const LOCAL_FUNCTION_NAME = 'image-pipeline';

/** Access keys an S3 request must be signed with (SigV4). */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface LocalPipelineOptions {
  /** Folder for the buckets, the event journal and the failure queue. */
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
  /** @default - the construct's default timeout */
  readonly timeoutMs?: number;
  /**
   * The function's memory in MB, as the construct's `memorySize`: the handler sizes what it
   * accepts to fit it (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
   * @default - the construct's default memory
   */
  readonly memorySizeMb?: number;
  /**
   * When given, the S3 endpoint takes only requests signed with these keys, and the handler
   * signs with them.
   * @default - any credentials are accepted
   */
  readonly credentials?: LocalCredentials;
  /** Override the shipped handler or worker (tests). */
  readonly assets?: Partial<ShippedAssets>;
  /**
   * Serve the upload API and its web page under `/_pipeline/` on the S3 endpoint's port; an object
   * also sets the API's document or clock (tests).
   * @default true
   */
  readonly uploadApi?: boolean | Pick<LocalUploadApiOptions, 'api' | 'now'>;
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
 * (an EventBridge event the handler sent, as delivered), `log` (the handler's output lines) and
 * `replay` (the number of events a previous run left unfinished, at start).
 *
 * Every event it takes (an S3 notification or an Invoke) is journaled in `<dataDir>/.journal`
 * before it is acknowledged, and its entry is removed only once the invocation has ended (its
 * outputs or failure record written, or a record in the failure queue): a crash loses nothing, and
 * the next start runs what was left.
 */
export class LocalPipeline extends EventEmitter {
  readonly config: PipelineConfig;
  readonly server: S3Server;
  readonly failureQueueDir: string;
  readonly assets: ShippedAssets;
  /** The local EventBridge sink: events also land in `<dataDir>/events.jsonl`. */
  readonly events: EventBus;
  /** Events taken and not yet ended, on disk. */
  readonly journal: EventJournal;
  /** The function's memory in MB. */
  readonly memorySizeMb: number;
  /** The upload API and its web page, when they are served. */
  readonly uploadApi?: LocalUploadApi;
  /** The local Lambda and EventBridge APIs (Invoke, PutEvents). */
  private readonly api: AwsApiServer;
  private pool?: LambdaPool;
  private taskDir?: string;
  /** Set once stop() begins: events are still journaled, no longer run. */
  private draining = false;
  private readonly dispatched = new Set<string>();
  /** Events taken while starting, before the pool could run them. */
  private readonly early: JournalEntry[] = [];
  private readonly listener: (event: { Records: S3EventRecord[] }) => void;

  constructor(private readonly options: LocalPipelineOptions) {
    super();
    this.listener = (event) => this.onS3Event(event);
    this.config = localConfig(options.config);
    const shipped = options.assets?.handlerPath && options.assets?.workerPath ? undefined : shippedAssets();
    this.assets = { ...shipped!, ...options.assets } as ShippedAssets;
    this.memorySizeMb = options.memorySizeMb ?? DEFAULTS.memorySizeMb;
    const dataDir = path.resolve(options.dataDir);
    this.failureQueueDir = path.join(dataDir, 'failure-queue');
    this.journal = new EventJournal(path.join(dataDir, '.journal'));
    this.events = new EventBus(path.join(dataDir, 'events.jsonl'));
    this.api = new AwsApiServer(this.events, options.host ?? '127.0.0.1', (_functionName, payload) => this.invoke(payload));
    this.events.on('event', (e: DeliveredEvent) => this.emit('event', e));
    const uploadApi = options.uploadApi === false ? undefined : new LocalUploadApi({
      pipeline: this.config,
      endpoint: () => loopbackFor(this.server.endpoint),
      memorySizeMb: this.memorySizeMb,
      credentials: options.credentials,
      ...(typeof options.uploadApi === 'object' ? options.uploadApi : {}),
    });
    this.uploadApi = uploadApi;
    this.server = new S3Server({
      dataDir: options.dataDir,
      route: uploadApi && ((req, res) => uploadApi.route(req, res)),
      host: options.host,
      port: options.port,
      buckets: [...new Set([this.config.inputBucket!, this.config.outputBucket])],
      // Turns on the endpoint's SigV4 checking.
      credentials: options.credentials,
      // Deletes reach the handler only when it handles them, as the construct subscribes to them.
      notifyRemovals: this.config.processDeletes === true,
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

  /** The web page's URL, when the upload API is served. */
  get pageUrl(): string | undefined {
    return this.uploadApi ? pageUrl(this.server.endpoint) : undefined;
  }

  /** Events taken and not yet ended: waiting, running, or journaled for the next start. */
  get pending(): number {
    return this.journal.size;
  }

  async start(): Promise<string> {
    // The journal first: what a previous run left, and every event from the first request on.
    const left = this.journal.open((message) => this.emit('log', JSON.stringify({ level: 'ERROR', message })));
    this.server.on('event', this.listener);
    const endpoint = await this.server.start();
    const eventsEndpoint = await this.api.start();
    // The handler runs from a copy in a folder of its own, as from Lambda's /var/task: `sharp`
    // then resolves to the layer on NODE_PATH, never to a node_modules the package sits in.
    this.taskDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-pipeline-task-'));
    const handlerPath = path.join(this.taskDir, path.basename(this.assets.handlerPath));
    fs.copyFileSync(this.assets.handlerPath, handlerPath);
    const credentials: Record<string, string> = this.options.credentials
      ? { AWS_ACCESS_KEY_ID: this.options.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: this.options.credentials.secretAccessKey }
      : {};
    this.pool = new LambdaPool({
      handlerPath,
      workerPath: this.assets.workerPath,
      layerPaths: this.assets.layerPath ? [this.assets.layerPath] : [],
      environment: {
        PIPELINE_CONFIG: JSON.stringify(this.config),
        PIPELINE_S3_ENDPOINT: loopbackFor(endpoint),
        PIPELINE_EVENTS_ENDPOINT: loopbackFor(eventsEndpoint),
        ...credentials,
      },
      failureQueueDir: this.failureQueueDir,
      concurrency: this.options.concurrency,
      retryAttempts: this.options.retryAttempts,
      retryDelaysMs: this.options.retryDelaysMs,
      timeoutMs: this.options.timeoutMs ?? DEFAULTS.timeoutSeconds * 1000,
      memorySize: this.memorySizeMb,
    });
    this.pool.on('done', (d: InvocationDone) => {
      this.journal.retire(d.requestId);
      this.emit('done', d);
    });
    this.pool.on('failed', (f: InvocationFailed) => {
      this.journal.retire(f.requestId);
      this.emit('failed', f);
    });
    this.pool.on('log', (line: string) => this.emit('log', line));

    // Replay: an event whose failure-queue record was written just before a crash has ended.
    const queued = LambdaPool.failureRecordIds(this.failureQueueDir);
    const replayed = left.filter((entry) => {
      if (queued.has(entry.id)) this.journal.retire(entry.id);
      return !queued.has(entry.id);
    });
    if (replayed.length > 0) this.emit('replay', replayed.length);
    for (const entry of replayed) this.dispatch(entry);
    // Events taken while starting.
    for (const entry of this.early.splice(0)) this.dispatch(entry);
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

  /**
   * Takes an asynchronous invocation of the handler, as Lambda's Invoke with InvocationType Event:
   * journaled before it returns (it throws if the journal cannot be written), then queued.
   */
  invoke(event: unknown): string {
    const entry = this.journal.append(event);
    this.emit('invoke', event);
    if (this.pool) this.dispatch(entry);
    else this.early.push(entry);
    return entry.id;
  }

  /** Resolves when no event is waiting or running. */
  async idle(): Promise<void> {
    await this.pool?.idle();
  }

  /**
   * Stops in order: events are no longer run (those still arriving are journaled); running and
   * queued ones finish within `graceMs`, with the endpoint still serving the handler; what is left
   * stays journaled for the next start (it is not sent to the failure queue); then the endpoints
   * close.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.draining = true;
    await this.pool?.shutdown(graceMs, 'keep');
    // Uploads and invocations acknowledged until the endpoints close are journaled by the listeners.
    await this.server.stop();
    await this.api.stop();
    this.uploadApi?.close();
    this.server.off('event', this.listener);
    this.journal.close();
    if (this.taskDir) fs.rmSync(this.taskDir, { recursive: true, force: true });
  }

  private dispatch(entry: JournalEntry): void {
    if (this.draining || this.dispatched.has(entry.id)) return;
    this.dispatched.add(entry.id);
    this.pool!.invoke(entry.event, { requestId: entry.id, enqueuedAt: entry.enqueuedAt });
  }

  /** The notification filter of the construct: the input bucket, ObjectCreated (and ObjectRemoved with processDeletes), prefix, suffixes. */
  private onS3Event(event: { Records: S3EventRecord[] }): void {
    const record = event.Records[0];
    const wanted = record.eventName.startsWith('ObjectCreated:')
      || (this.config.processDeletes === true && record.eventName.startsWith('ObjectRemoved:'));
    if (record.s3.bucket.name !== this.inputBucket || !wanted) return;
    const key = decodeKey(record.s3.object.key);
    if (!key.startsWith(this.config.inputPrefix)) return;
    // With rules, one notification per rule prefix, as the construct subscribes.
    if (this.config.rules && !this.config.rules.some((r) => key.startsWith(`${this.config.inputPrefix}${r.prefix}`))) return;
    const suffixes = this.options.inputSuffixes ?? [];
    if (suffixes.length > 0 && !suffixes.some((s) => key.endsWith(s))) return;
    this.invoke(event);
  }
}

/** An endpoint on every address (0.0.0.0, ::) as the handler reaches it: on loopback. */
export function loopbackFor(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}
