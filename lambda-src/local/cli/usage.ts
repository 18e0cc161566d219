/** The usage text of the `image-pipeline` commands. */
import { DEFAULT_MAX_OBJECTS } from './batch-backfill';
import { DEFAULTS, LIMITS } from '../../../src/contract';

const MEMORY = `--memory MB (${DEFAULTS.memorySizeMb}, the construct's default; ${LIMITS.memorySizeMb.min} to ${LIMITS.memorySizeMb.max})`;

export const USAGES: Record<string, string> = {
  serve: `usage: image-pipeline serve [options]

An S3 endpoint on this machine with the input and output buckets; every upload to the input bucket
runs the pipeline's Lambda handler, with its sharp layer, as Lambda would. Acknowledged uploads are
journaled in the data folder and survive a crash; Ctrl-C finishes what it can and keeps the rest
for the next start. On a loopback --host it also serves the upload API and a web page to upload
images and watch their results, at http://HOST:PORT/_pipeline/ (printed at start).

  --host ADDR          127.0.0.1; another address than loopback needs --allow-remote
  --port N             4569 (0: a free port)
  --data DIR           .image-pipeline: buckets, journal, failure queue, events.jsonl, handler.log
  --config FILE        the PIPELINE_CONFIG document (JSON)
  --concurrency N      2 execution environments at once
  ${MEMORY}
                       the function's memory: what the handler accepts is sized to it
  --retry-delay-ms N   1000 (then twice that) between a failed invocation's attempts
  --access-key ID --secret-key KEY
                       take only requests signed (SigV4) with these credentials
  --allow-remote       serve on a --host other than loopback
  --verbose            the handler's JSON log and metric lines on the console too
                       (they always go to DIR/handler.log)
  -h, --help
`,
  process: `usage: image-pipeline process <files or folders...> --out DIR [options]

The pipeline's transform on local files: writes DIR/<variant>/<path>.<ext>; exits 1 if any failed.

  --out DIR            where the outputs are written (required)
  --config FILE        the PIPELINE_CONFIG document (JSON)
  --concurrency N      files at once (the number of CPUs)
  --json               the results as JSON
  -h, --help
`,
  demo: `usage: image-pipeline demo [options]

Serves on a free port, uploads sample images, waits for every output or failure record, prints a
report and copies the outputs to a folder.

  --out DIR            image-pipeline-demo
  --config FILE        the PIPELINE_CONFIG document (JSON)
  --concurrency N      2
  ${MEMORY}
  -h, --help
`,
  backfill: `usage: image-pipeline backfill --bucket NAME --function NAME_OR_ARN [options]

Sends the processor an upload event for every object already under a prefix, as asynchronous
invocations, keeping its place in a state file.

  --bucket NAME        the input bucket (required)
  --function NAME      the processor function's name or ARN (required)
  --prefix P           ''
  --region R           from AWS_REGION
  --concurrency N      8
  --state FILE         where to keep its place, to go on after an interruption
  --limit N            stop after N objects
  --endpoint URL --lambda-endpoint URL
                       against the local mode: the endpoints in serve's banner
  -h, --help

With --batch, an S3 Batch Operations job invokes the processor for every object instead (for
buckets too large for this loop). A dry run first, by default: it lists the prefix (or reads an S3
Inventory report), refuses more objects than --max-objects, and estimates the requests and their
cost at us-east-1 list prices (S3 Batch Operations $0.25 a job and $1.00 a million objects; S3 PUT
and LIST $0.005, GET $0.0004 a thousand; Lambda $0.20 a million requests and $0.0000133334 a GB-s
on arm64, $0.0000166667 on x86_64; EventBridge $1.00 a million events; Rekognition $0.001 an
image). --create writes the CSV manifest under <output-prefix>_batch/manifests/ and creates the
job, whose completion report goes under <output-prefix>_batch/reports/.

  --batch              an S3 Batch Operations job (--function must then be the processor's ARN)
  --output-bucket NAME the pipeline's output bucket: the job's manifest and report (required)
  --output-prefix P    the pipeline's outputPrefix ('')
  --inventory S3URL    s3://bucket/.../manifest.json of an S3 Inventory report, instead of a listing
  --max-objects N      ${DEFAULT_MAX_OBJECTS}: refuse a job over more objects
  --config FILE        the PIPELINE_CONFIG document, for the estimate (variants, manifest, labels)
  --memory MB          ${DEFAULTS.memorySizeMb}, --ms-per-image N 100, --x86: the function, for the estimate
  --create             write the manifest and create the job
  --role ARN           the job's role: the pipeline's batchOperationsRole (required with --create)
`,
};

export const USAGE = `usage: image-pipeline <command> [options]

commands:
  serve     an S3 endpoint on this machine; every upload to the input bucket runs the pipeline's
            Lambda handler, with its sharp layer, as Lambda would
  process   the same transform on local files and folders
  demo      serve on a free port, upload sample images, wait for every output, print a report
  backfill  send the processor an upload event for every object already under a prefix

'image-pipeline <command> --help' for a command's options; --version for the version.

--config FILE is a JSON document with the construct's settings, as the handler reads them from
PIPELINE_CONFIG: {"variants":[{"name":"thumb","width":128,"height":128,"fit":"cover","format":"webp"}]}
`;
