/**
 * The `image-pipeline` commands: serve, process, demo, backfill.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs, type ParseArgsConfig } from 'util';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ControlClient } from '@aws-sdk/client-s3-control';
import { DEFAULTS, LIMITS, MANIFEST_FOLDER } from '../../../src/contract';
import { LABELS_NEED_AWS } from '../../labels';
import { decodeKey } from '../../s3-event';
import { packageVersion } from '../assets';
import { backfill } from './backfill';
import { batchBackfill, BatchBackfillError, DEFAULT_MAX_OBJECTS, formatEstimate, type PerObject } from './batch-backfill';
import { runDemo } from './demo';
import { writeManifests } from './manifests';
import type { InvocationDone, InvocationFailed } from '../lambda/lambda-pool';
import { localConfig, LocalPipeline, readConfigFile, type LocalCredentials } from '../local-pipeline';
import { collectFiles, processFiles } from './process-files';
import { formatBytes, Progress, table } from './term';
import { USAGE, USAGES } from './usage';
import type { RecordOutcome } from '../../processor';

/** A mistake in the command line: its message is printed with a pointer to the command's help. */
class UsageError extends Error {}

export async function main(argv: string[], layerProblem?: string): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': return await serve(rest, layerProblem);
      case 'process': return await processCommand(rest);
      case 'demo': return await demo(rest);
      case 'backfill': return await backfillCommand(rest);
      case '--version': case '-v': case 'version':
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`image-pipeline: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`image-pipeline ${command}: ${e.message}\n(see 'image-pipeline ${command} --help')\n`);
    return 2;
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with -h/--help; a parse error becomes a UsageError; undefined when help was printed. */
function parse<T extends Options>(command: string, args: string[], options: T, allowPositionals = false) {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, allowPositionals, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(USAGES[command]);
    return undefined;
  }
  return parsed as unknown as { values: { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string }; positionals: string[] };
}

/** A whole number in [min, max], or a UsageError naming the option. */
function integer(option: string, value: string | undefined, min: number, max: number): number;
function integer(option: string, value: string | undefined, min: number, max: number, optional: true): number | undefined;
function integer(option: string, value: string | undefined, min: number, max: number, optional = false): number | undefined {
  if (value === undefined && optional) return undefined;
  const n = /^\d+$/.test(value ?? '') ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${option} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}

function configFrom(file: string | undefined): Record<string, unknown> | undefined {
  if (!file) return undefined;
  try {
    return readConfigFile(file);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

async function serve(args: string[], layerProblem?: string): Promise<number> {
  const parsed = parse('serve', args, {
    'host': { type: 'string', default: '127.0.0.1' },
    'port': { type: 'string', default: '4569' },
    'data': { type: 'string', default: '.image-pipeline' },
    'config': { type: 'string' },
    'concurrency': { type: 'string', default: '2' },
    'memory': { type: 'string', default: String(DEFAULTS.memorySizeMb) },
    'retry-delay-ms': { type: 'string', default: '1000' },
    'access-key': { type: 'string' },
    'secret-key': { type: 'string' },
    'allow-remote': { type: 'boolean', default: false },
    'verbose': { type: 'boolean', default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  const port = integer('port', values.port, 0, 65535);
  const concurrency = integer('concurrency', values.concurrency, 1, 64);
  const memory = integer('memory', values.memory, LIMITS.memorySizeMb.min, LIMITS.memorySizeMb.max);
  const retryDelay = integer('retry-delay-ms', values['retry-delay-ms'], 0, 3_600_000);
  const host = values.host!.replace(/^\[(.*)\]$/, '$1');
  if (!isLoopback(host) && !values['allow-remote']) {
    throw new UsageError(`--host ${host} is not a loopback address: anyone who can reach it could read, write and delete `
      + 'the buckets. Add --allow-remote to serve there anyway, with --access-key and --secret-key to require signed requests');
  }
  if (Boolean(values['access-key']) !== Boolean(values['secret-key'])) {
    throw new UsageError('--access-key and --secret-key go together');
  }
  const credentials: LocalCredentials | undefined = values['access-key']
    ? { accessKeyId: values['access-key'], secretAccessKey: values['secret-key']! }
    : undefined;
  const dataDir = path.resolve(values.data!);
  const pipeline = new LocalPipeline({
    dataDir,
    host,
    port,
    config: configFrom(values.config),
    concurrency,
    memorySizeMb: memory,
    retryDelaysMs: [retryDelay, retryDelay * 2],
    credentials,
    // An open API beyond this machine would sign uploads for anyone who reaches it.
    uploadApi: isLoopback(host),
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, 'handler.log');
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  pipeline.on('log', (line: string) => {
    log.write(`${line}\n`);
    if (values.verbose) out(line);
  });
  pipeline.on('done', (d: InvocationDone) => {
    const ms = d.finishedAt - d.enqueuedAt;
    for (const o of (d.result as { outcomes?: RecordOutcome[] } | null)?.outcomes ?? []) {
      if (o.status === 'processed') out(`processed ${o.key} -> ${o.outputs.map((x) => x.key).join(', ')} (${ms} ms)`);
      else if (o.status === 'rejected') out(`rejected  ${o.key}: ${o.reason} -> ${o.failureRecord} (${ms} ms)`);
      else if (o.status === 'deleted') out(`deleted   ${o.key}: removed ${o.removed.length ? o.removed.join(', ') : 'nothing'} -> ${o.tombstone} (${ms} ms)`);
      else out(`skipped   ${o.key}: ${o.why}`);
    }
    // an S3 Batch Operations invocation: one result per task
    for (const r of (d.result as { results?: { taskId: string; resultCode: string; resultString: string }[] } | null)?.results ?? []) {
      out(`batch     ${r.taskId}: ${r.resultCode}: ${r.resultString} (${ms} ms)`);
    }
  });
  pipeline.on('failed', (f: InvocationFailed) => {
    const ctx = f.record.requestContext;
    out(`FAILED    ${keysOf(f.event)}: ${f.record.responsePayload.errorMessage} (${ctx.approximateInvokeCount} attempts, ${ctx.condition}) -> ${f.file}`);
  });
  pipeline.on('replay', (n: number) => out(`replaying ${n} event(s) the last run took and did not finish`));

  const endpoint = await pipeline.start();
  out(`image-pipeline serving an S3 endpoint at ${endpoint}`);
  out(pipeline.pageUrl
    ? `  web page:      ${pipeline.pageUrl}  <- open it to upload images (upload API at ${pipeline.pageUrl}uploads)`
    : '  web page:      off: the upload API and its web page are served on a loopback --host only');
  out(`  input bucket:  ${pipeline.inputBucket}${pipeline.config.inputPrefix ? ` (prefix ${pipeline.config.inputPrefix})` : ''}  <- uploads here are processed`);
  out(`  output bucket: ${pipeline.outputBucket}${pipeline.config.outputPrefix ? ` (prefix ${pipeline.config.outputPrefix})` : ''}`);
  out(`  data:          ${dataDir}`);
  out(`  failure queue: ${pipeline.failureQueueDir}`);
  out(`  events:        ${pipeline.events.file} (ImageProcessed, ImageRejected)`);
  out(`  handler log:   ${logFile}${values.verbose ? ' (and here)' : ''}`);
  out(`  function:      ${pipeline.functionName}, ${memory} MB, Lambda and EventBridge APIs at ${pipeline.apiEndpoint}`);
  out(`  variants:      ${pipeline.config.variants.map((v) => v.name).join(', ')}`);
  if (pipeline.config.manifest) out(`  manifests:     s3://${pipeline.outputBucket}/${pipeline.config.outputPrefix}${MANIFEST_FOLDER}`);
  if (pipeline.config.processDeletes) out('  deletes:       a delete in the input bucket removes its results (processDeletes)');
  if (pipeline.config.labels) out(`  labels:        ${LABELS_NEED_AWS}`);
  if (layerProblem) out(`  note: ${layerProblem}; sharp comes from this machine's own install`);
  if (!isLoopback(host)) {
    warn(credentials
      ? `warning: serving on ${host}, beyond this machine; S3 requests must be signed with the access key given.`
      : `warning: serving on ${host} with no authentication: anyone who can reach it can read, write and delete `
        + 'objects. Set --access-key and --secret-key to require signed requests.');
  }
  out(credentials ? 'S3 clients must sign with the access key and secret key given, for example:' : 'any S3 client with any credentials works, for example:');
  out(`  aws --endpoint-url ${endpoint} s3 cp photo.jpg s3://${pipeline.inputBucket}/${pipeline.config.inputPrefix}`);
  out(`  aws --endpoint-url ${endpoint} s3 ls --recursive s3://${pipeline.outputBucket}/`);
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      // A second Ctrl-C stops at once: the journal keeps what is pending.
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      out(`stopping: ${pipeline.pending} event(s) pending; Ctrl-C again stops at once, keeping them for the next start…`);
      pipeline.stop(30_000).then(() => resolve(), (e: Error) => {
        warn(`image-pipeline serve: ${e.message}`);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  out('Ctrl-C stops: events under way finish; what cannot finish in 30 s runs at the next start.');
  await stopped;
  const left = pipeline.pending;
  await new Promise<void>((resolve) => log.end(() => resolve()));
  out(left > 0 ? `stopped; ${left} event(s) journaled in ${pipeline.journal.dir} run at the next start.` : 'stopped.');
  return 0;
}

type BatchValues = Record<'bucket' | 'prefix' | 'function' | 'region' | 'endpoint' | 'role' | 'output-bucket' | 'output-prefix' | 'inventory'
| 'max-objects' | 'config' | 'memory' | 'ms-per-image', string | undefined> & { create?: boolean; x86?: boolean };

/**
 * `backfill --batch`: an S3 Batch Operations job over the objects, after a dry run that counts them
 * and estimates the cost (the default); `--create` writes the manifest and creates the job.
 */
async function batchCommand(values: BatchValues): Promise<number> {
  if (!values['output-bucket']) throw new UsageError('--output-bucket NAME is required with --batch: the job\'s manifest and report go there');
  if (values.create && !values.role) throw new UsageError('--role ARN is required with --create: the pipeline\'s batchOperationsRole');
  const maxObjects = integer('max-objects', values['max-objects'], 1, Number.MAX_SAFE_INTEGER);
  const config = values.config ? localConfig(configFrom(values.config)) : undefined;
  const perObject: PerObject = {
    variants: config?.variants.length ?? 1,
    manifest: config?.manifest,
    processDeletes: config?.processDeletes,
    labels: config?.labels !== undefined,
    memoryMb: integer('memory', values.memory, LIMITS.memorySizeMb.min, LIMITS.memorySizeMb.max),
    msPerObject: integer('ms-per-image', values['ms-per-image'], 1, 900_000),
    architecture: values.x86 ? 'x86_64' : 'arm64',
  };
  const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const local = values.endpoint ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {};
  const s3 = new S3Client({ region, ...local, ...(values.endpoint ? { endpoint: values.endpoint, forcePathStyle: true } : {}) });
  const s3control = new S3ControlClient({ region });
  try {
    const result = await batchBackfill({
      s3,
      s3control,
      bucket: values.bucket!,
      prefix: values.prefix,
      functionArn: values.function!,
      roleArn: values.role ?? '',
      outputBucket: values['output-bucket'],
      outputPrefix: values['output-prefix'],
      inventory: values.inventory,
      maxObjects,
      create: values.create,
      perObject,
    });
    process.stdout.write(formatEstimate(result.estimate));
    process.stdout.write(result.jobId
      ? `created S3 Batch Operations job ${result.jobId} over ${result.manifest}; its report goes to s3://${values['output-bucket']}/${values['output-prefix']}_batch/reports/\n`
      : 'dry run: nothing written, no job created; add --create to create it\n');
    return 0;
  } catch (e) {
    if (e instanceof BatchBackfillError) throw new UsageError(e.message);
    throw e;
  } finally {
    s3.destroy();
    s3control.destroy();
  }
}

/** The input keys of an S3 event, decoded, for messages. */
function keysOf(event: unknown): string {
  const records = (event as { Records?: { s3?: { object?: { key?: string } } }[] } | null)?.Records ?? [];
  const keys = records.map((r) => r.s3?.object?.key).filter((k): k is string => typeof k === 'string').map(decodeKey);
  return keys.length > 0 ? keys.join(', ') : 'an event';
}

async function processCommand(args: string[]): Promise<number> {
  const parsed = parse('process', args, {
    out: { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    concurrency: { type: 'string' },
  }, true);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (!values.out) throw new UsageError('--out DIR is required: the folder the outputs are written to');
  if (positionals.length === 0) throw new UsageError('name at least one file or folder to process');
  const concurrency = integer('concurrency', values.concurrency, 1, 1024, true) ?? os.availableParallelism();
  const config = localConfig(configFrom(values.config));
  let files: { file: string; relative: string }[];
  try {
    files = collectFiles(positionals);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const progress = new Progress(files.length, 'processing');
  const started = Date.now();
  const results = await processFiles(files, values.out, config, (r) => progress.tick(r.file), concurrency);
  progress.end();
  if (config.manifest) await writeManifests(files, results, values.out, config);
  if (config.labels) process.stderr.write(`note: ${LABELS_NEED_AWS}\n`);
  const failed = results.filter((r) => r.error);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(['file', 'in', 'out', 'ms', 'result'], results.map((r) => [
      r.file,
      formatBytes(r.bytesIn),
      formatBytes(r.outputs.reduce((t, o) => t + o.bytes, 0)),
      r.ms.toFixed(1),
      r.error ? `${r.error.reason}` : r.skipped ? `skipped: ${r.skipped}`
        : r.outputs.map((o) => `${path.relative(values.out!, o.path)}${o.note ? ` (${o.note.guard})` : ''}`).join(', '),
    ]))}\n`);
    const bytesIn = results.reduce((t, r) => t + r.bytesIn, 0);
    const bytesOut = results.reduce((t, r) => t + r.outputs.reduce((u, o) => u + o.bytes, 0), 0);
    const collisions = results.reduce((t, r) => t + (r.collisions?.length ?? 0), 0);
    const collided = collisions === 0 ? '' : `, ${collisions} collision${collisions === 1 ? '' : 's'}`;
    process.stdout.write(`${results.length} files, ${results.length - failed.length} processed, ${failed.length} failed${collided}; `
      + `${formatBytes(bytesIn)} in, ${formatBytes(bytesOut)} out, ${((Date.now() - started) / 1000).toFixed(2)} s\n`);
  }
  for (const f of failed) process.stderr.write(`failed: ${f.file}: ${f.error!.reason}: ${f.error!.message}\n`);
  for (const r of results) {
    for (const c of r.collisions ?? []) {
      process.stderr.write(`collision: ${r.file} and ${c.otherFile} both make ${path.relative(values.out, c.path)}; ${r.file}'s is kept\n`);
    }
  }
  return failed.length > 0 ? 1 : 0;
}

async function demo(args: string[]): Promise<number> {
  const parsed = parse('demo', args, {
    out: { type: 'string', default: 'image-pipeline-demo' },
    config: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    memory: { type: 'string', default: String(DEFAULTS.memorySizeMb) },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  return runDemo({
    outDir: values.out!,
    config: configFrom(values.config),
    concurrency: integer('concurrency', values.concurrency, 1, 64),
    memorySizeMb: integer('memory', values.memory, LIMITS.memorySizeMb.min, LIMITS.memorySizeMb.max),
  });
}

async function backfillCommand(args: string[]): Promise<number> {
  const parsed = parse('backfill', args, {
    'bucket': { type: 'string' },
    'prefix': { type: 'string', default: '' },
    'function': { type: 'string' },
    'region': { type: 'string' },
    'endpoint': { type: 'string' },
    'lambda-endpoint': { type: 'string' },
    'concurrency': { type: 'string', default: '8' },
    'state': { type: 'string' },
    'limit': { type: 'string' },
    'batch': { type: 'boolean', default: false },
    'create': { type: 'boolean', default: false },
    'role': { type: 'string' },
    'output-bucket': { type: 'string' },
    'output-prefix': { type: 'string', default: '' },
    'inventory': { type: 'string' },
    'max-objects': { type: 'string', default: String(DEFAULT_MAX_OBJECTS) },
    'config': { type: 'string' },
    'memory': { type: 'string', default: String(DEFAULTS.memorySizeMb) },
    'ms-per-image': { type: 'string', default: '100' },
    'x86': { type: 'boolean', default: false },
  });
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.bucket) throw new UsageError('--bucket NAME is required: the input bucket whose objects are sent');
  if (!values.function) throw new UsageError('--function NAME_OR_ARN is required: the processor function');
  if (values.batch) return batchCommand(values as BatchValues);
  const batchOnly = ['create', 'role', 'output-bucket', 'inventory'].filter((k) => values[k as keyof typeof values]);
  if (batchOnly.length > 0) throw new UsageError(`--${batchOnly[0]} goes with --batch`);
  const concurrency = integer('concurrency', values.concurrency, 1, 1000);
  const limit = integer('limit', values.limit, 1, Number.MAX_SAFE_INTEGER, true);
  const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const local = values.endpoint ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {};
  const s3 = new S3Client({ region, ...local, ...(values.endpoint ? { endpoint: values.endpoint, forcePathStyle: true } : {}) });
  const lambda = new LambdaClient({ region, ...local, ...(values['lambda-endpoint'] ? { endpoint: values['lambda-endpoint'] } : {}) });
  const started = Date.now();
  let last = 0;
  const tty = Boolean(process.stderr.isTTY);
  const result = await backfill({
    s3,
    lambda,
    region,
    functionName: values.function,
    bucket: values.bucket,
    prefix: values.prefix,
    concurrency,
    stateFile: values.state,
    limit,
    onProgress: (done, key) => {
      if (tty && Date.now() - last > 100) {
        last = Date.now();
        const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
        process.stderr.write(`\r\x1b[2Kbackfill: ${done} sent, ${rate.toFixed(0)}/s, ${key.length > 50 ? `…${key.slice(-49)}` : key}`);
      }
    },
  });
  if (tty) process.stderr.write('\r\x1b[2K');
  process.stdout.write(`${result.sent} objects sent to ${values.function} in ${((Date.now() - started) / 1000).toFixed(1)} s`
    + (values.state ? ` (${result.total} in all with ${values.state})` : '')
    + (result.complete ? '; nothing left under the prefix\n' : `; more remain after ${result.lastKey}: run again to go on\n`));
  s3.destroy();
  lambda.destroy();
  return 0;
}
