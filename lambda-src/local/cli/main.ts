/**
 * The `image-pipeline` commands: serve, process, demo.
 */
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { backfill } from './backfill';
import { runDemo } from './demo';
import type { InvocationDone, InvocationFailed } from '../lambda/lambda-pool';
import { localConfig, LocalPipeline, readConfigFile } from '../local-pipeline';
import { collectFiles, processFiles } from './process-files';
import { formatBytes, Progress, table } from './term';
import type { RecordOutcome } from '../../processor';

const USAGE = `usage: image-pipeline <command> [options]

commands:
  serve     an S3 endpoint on this machine; every upload to the input bucket runs the pipeline's
            Lambda handler, with its sharp layer, as Lambda would
              --host 127.0.0.1  --port 4569  --data DIR (.image-pipeline)  --config FILE
              --concurrency N (2)  --retry-delay-ms N (1000)
  process   the same transform on local files and folders
              <files or folders...> --out DIR [--config FILE] [--json]
  demo      serve on a free port, upload sample images, wait for every output, print a report
              --out DIR (image-pipeline-demo)  [--config FILE]
  backfill  send the processor an upload event for every object already under a prefix
              --bucket NAME [--prefix P] --function NAME_OR_ARN [--region R]
              [--concurrency 8] [--state FILE] [--limit N]
              against the local mode: --endpoint URL (S3) --lambda-endpoint URL (from serve's banner)

--config FILE is a JSON document with the construct's settings, as the handler reads them from
PIPELINE_CONFIG: {"variants":[{"name":"thumb","width":128,"height":128,"fit":"cover","format":"webp"}]}
`;

export async function main(argv: string[], layerProblem?: string): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': return serve(rest, layerProblem);
    case 'process': return processCommand(rest);
    case 'demo': return demo(rest);
    case 'backfill': return backfillCommand(rest);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`image-pipeline: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function configFrom(file: string | undefined): Record<string, unknown> | undefined {
  return file ? readConfigFile(file) : undefined;
}

async function serve(args: string[], layerProblem?: string): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'host': { type: 'string', default: '127.0.0.1' },
      'port': { type: 'string', default: '4569' },
      'data': { type: 'string', default: '.image-pipeline' },
      'config': { type: 'string' },
      'concurrency': { type: 'string', default: '2' },
      'retry-delay-ms': { type: 'string', default: '1000' },
    },
  });
  const retryDelay = Number(values['retry-delay-ms']);
  const pipeline = new LocalPipeline({
    dataDir: values.data!,
    host: values.host,
    port: Number(values.port),
    config: configFrom(values.config),
    concurrency: Number(values.concurrency),
    retryDelaysMs: [retryDelay, retryDelay * 2],
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  pipeline.on('log', (line: string) => out(line));
  pipeline.on('done', (d: InvocationDone) => {
    for (const o of (d.result as { outcomes?: RecordOutcome[] } | null)?.outcomes ?? []) {
      const ms = d.finishedAt - d.enqueuedAt;
      if (o.status === 'processed') out(`processed ${o.key} -> ${o.outputs.map((x) => x.key).join(', ')} (${ms} ms)`);
      else if (o.status === 'rejected') out(`rejected  ${o.key}: ${o.reason} -> ${o.failureRecord}`);
      else out(`skipped   ${o.key}: ${o.why}`);
    }
  });
  pipeline.on('failed', (f: InvocationFailed) => out(`FAILED    event ${f.requestId} after ${f.record.requestContext.approximateInvokeCount} attempts (${f.record.requestContext.condition}): ${f.record.responsePayload.errorMessage} -> ${f.file}`));

  const endpoint = await pipeline.start();
  out(`image-pipeline serving an S3 endpoint at ${endpoint}`);
  out(`  input bucket:  ${pipeline.inputBucket}${pipeline.config.inputPrefix ? ` (prefix ${pipeline.config.inputPrefix})` : ''}  <- uploads here are processed`);
  out(`  output bucket: ${pipeline.outputBucket}${pipeline.config.outputPrefix ? ` (prefix ${pipeline.config.outputPrefix})` : ''}`);
  out(`  data:          ${path.resolve(values.data!)}`);
  out(`  failure queue: ${pipeline.failureQueueDir}`);
  out(`  events:        ${pipeline.events.file} (ImageProcessed, ImageRejected)`);
  out(`  function:      ${pipeline.functionName}, Lambda and EventBridge APIs at ${pipeline.apiEndpoint}`);
  out(`  variants:      ${pipeline.config.variants.map((v) => v.name).join(', ')}`);
  if (layerProblem) out(`  note: ${layerProblem}; sharp comes from this machine's own install`);
  out('any S3 client with any credentials works, for example:');
  out(`  aws --endpoint-url ${endpoint} s3 cp photo.jpg s3://${pipeline.inputBucket}/${pipeline.config.inputPrefix}`);
  out(`  aws --endpoint-url ${endpoint} s3 ls --recursive s3://${pipeline.outputBucket}/`);
  out('Ctrl-C stops; events under way finish or go to the failure queue.');

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      out(`stopping: ${pipeline.pending} event(s) pending…`);
      pipeline.stop(30_000).then(() => resolve(), () => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  out('stopped.');
  return 0;
}

async function processCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      concurrency: { type: 'string' },
    },
  });
  if (positionals.length === 0 || !values.out) {
    process.stderr.write('usage: image-pipeline process <files or folders...> --out DIR [--config FILE] [--json]\n');
    return 2;
  }
  const config = localConfig(configFrom(values.config));
  const files = collectFiles(positionals);
  const progress = new Progress(files.length, 'processing');
  const started = Date.now();
  const results = await processFiles(files, values.out, config, (r) => progress.tick(r.file),
    values.concurrency ? Number(values.concurrency) : os.availableParallelism());
  progress.end();
  const failed = results.filter((r) => r.error);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(['file', 'in', 'out', 'ms', 'result'], results.map((r) => [
      r.file,
      formatBytes(r.bytesIn),
      formatBytes(r.outputs.reduce((t, o) => t + o.bytes, 0)),
      r.ms.toFixed(1),
      r.error ? `${r.error.reason}` : r.outputs.map((o) => path.relative(values.out!, o.path)).join(', '),
    ]))}\n`);
    const bytesIn = results.reduce((t, r) => t + r.bytesIn, 0);
    const bytesOut = results.reduce((t, r) => t + r.outputs.reduce((u, o) => u + o.bytes, 0), 0);
    process.stdout.write(`${results.length} files, ${results.length - failed.length} processed, ${failed.length} failed; `
      + `${formatBytes(bytesIn)} in, ${formatBytes(bytesOut)} out, ${((Date.now() - started) / 1000).toFixed(2)} s\n`);
  }
  for (const f of failed) process.stderr.write(`failed: ${f.file}: ${f.error!.reason}: ${f.error!.message}\n`);
  return failed.length > 0 ? 1 : 0;
}

async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: 'string', default: 'image-pipeline-demo' },
      config: { type: 'string' },
      concurrency: { type: 'string', default: '2' },
    },
  });
  return runDemo({ outDir: values.out!, config: configFrom(values.config), concurrency: Number(values.concurrency) });
}

async function backfillCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'bucket': { type: 'string' },
      'prefix': { type: 'string', default: '' },
      'function': { type: 'string' },
      'region': { type: 'string' },
      'endpoint': { type: 'string' },
      'lambda-endpoint': { type: 'string' },
      'concurrency': { type: 'string', default: '8' },
      'state': { type: 'string' },
      'limit': { type: 'string' },
    },
  });
  if (!values.bucket || !values.function) {
    process.stderr.write('usage: image-pipeline backfill --bucket NAME [--prefix P] --function NAME_OR_ARN [--state FILE] '
      + '[--concurrency 8] [--limit N] [--region R] [--endpoint URL --lambda-endpoint URL]\n');
    return 2;
  }
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
    concurrency: Number(values.concurrency),
    stateFile: values.state,
    limit: values.limit ? Number(values.limit) : undefined,
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
