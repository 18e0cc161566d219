import {
  CfnElement, CfnResource, DefaultTokenResolver, Duration, IPostProcessor, IResolvable, IResolveContext, Reference, Stack,
  StringConcat, Token, Tokenization,
} from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import * as contract from '../contract';
import { ImagePreprocessingPipelineProps, TriggerMode } from '../pipeline-props';
import { CropPosition, ImageFit, InputFormat, LargerOutput, OutputFormat } from '../variant';
import { DEFAULT_ARCHITECTURE } from './architecture';
import { uploadApiProblems } from './upload-api-validation';

// The public enums are the contract's lists under jsii-friendly names: these lines fail to
// compile if an enum and its list ever hold different values.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const enumsMatchContract: [
  Same<`${ImageFit}`, contract.Fit>,
  Same<`${OutputFormat}`, contract.OutputFormat>,
  Same<`${InputFormat}`, contract.InputFormat>,
  Same<`${TriggerMode}`, contract.Trigger>,
  Same<`${CropPosition}`, contract.Position>,
  Same<`${LargerOutput}`, contract.LargerOutputAction>,
] = [true, true, true, true, true, true];
void enumsMatchContract;

const isUnknown: contract.IsUnknown = (v) => Token.isUnresolved(v);

/**
 * Checks every prop before anything is created; each message names the prop and the value. The
 * document's fields follow the contract's rules, the same the handler applies at init. `scope` is
 * the pipeline: buckets given as tokens are told apart by what they resolve to in its stack, and
 * its input notifications are compared with those of the app's other pipelines.
 */
export function validateProps(scope: IConstruct, props: ImagePreprocessingPipelineProps): void {
  const { LIMITS } = contract;
  const errors: string[] = [
    ...contract.prefixProblems('inputPrefix', props.inputPrefix, isUnknown),
    ...contract.prefixProblems('outputPrefix', props.outputPrefix, isUnknown),
    ...contract.variantsProblems(props.variants, isUnknown),
    ...contract.rulesProblems(props.rules, props.variants, isUnknown),
    ...contract.acceptedFormatsProblems(props.acceptedFormats, isUnknown),
    ...contract.integerProblems('maxInputPixels', props.maxInputPixels, LIMITS.maxInputPixels, isUnknown),
    ...contract.integerProblems('memorySize', props.memorySize, LIMITS.memorySizeMb, isUnknown),
    ...contract.integerProblems('reservedConcurrency', props.reservedConcurrency, LIMITS.reservedConcurrency, isUnknown),
    ...contract.integerProblems('rejectedImagesAlarmThreshold', props.rejectedImagesAlarmThreshold, LIMITS.rejectedImagesAlarmThreshold, isUnknown),
    ...contract.oneOfProblems('trigger', props.trigger, contract.TRIGGERS, isUnknown),
    ...contract.integerProblems('queueBatchSize', props.queueBatchSize, LIMITS.queueBatchSize, isUnknown),
    ...contract.integerProblems('retryAttempts', props.retryAttempts, LIMITS.retryAttempts, isUnknown),
    ...contract.integerProblems('queueMaxReceiveCount', props.queueMaxReceiveCount, LIMITS.queueMaxReceiveCount, isUnknown),
    ...contract.integerProblems('queueMaxConcurrency', props.queueMaxConcurrency, LIMITS.queueMaxConcurrency, isUnknown),
  ];

  const suffixes = props.inputSuffixes ?? [];
  for (const s of suffixes) {
    if (!Token.isUnresolved(s) && s.length === 0) errors.push('inputSuffixes must not contain an empty string');
  }
  errors.push(...suffixesProblems(suffixes));
  const prefixes = notificationPrefixes(props);
  if (sameBucket(scope, props.inputBucket, props.outputBucket)) {
    const name = props.inputBucket!.bucketName;
    const problems = prefixes.flatMap((prefix) => contract.sharedBucketProblems(prefix,
      props.outputPrefix ?? contract.DEFAULTS.outputPrefix, Token.isUnresolved(name) ? undefined : name));
    errors.push(...problems.slice(0, 1));
  }
  if (props.inputBucket !== undefined) {
    errors.push(...prefixes.flatMap((prefix) => otherPipelinesProblems(scope, props.inputBucket!, prefix, suffixes)));
  }
  if (props.maxInputBytes !== undefined && props.maxInputBytes.toBytes() < LIMITS.maxInputBytes.min) {
    errors.push('maxInputBytes must be at least 1 byte');
  }

  const arch = props.architecture;
  if (arch !== undefined && arch.name !== lambda.Architecture.ARM_64.name && arch.name !== lambda.Architecture.X86_64.name) {
    errors.push(`architecture must be ARM_64 or X86_64, got ${arch.name}`);
  }
  errors.push(...durationProblems('timeout', props.timeout, LIMITS.timeoutSeconds, 'from 1 second to 15 minutes'));

  const queueOnly = (name: string, v: unknown) => {
    if (v !== undefined && props.trigger !== TriggerMode.QUEUE) errors.push(`${name} applies only with trigger TriggerMode.QUEUE`);
  };
  queueOnly('queueBatchSize', props.queueBatchSize);
  queueOnly('queueMaxBatchingWindow', props.queueMaxBatchingWindow);
  const window = props.queueMaxBatchingWindow?.toSeconds();
  errors.push(...durationProblems('queueMaxBatchingWindow', props.queueMaxBatchingWindow,
    { min: 0, max: LIMITS.queueMaxBatchingWindowSeconds }, 'at most 5 minutes'));
  if ((props.queueBatchSize ?? 0) > LIMITS.queueBatchSizeWithoutWindow && !window) {
    errors.push(`queueBatchSize above ${LIMITS.queueBatchSizeWithoutWindow} needs a queueMaxBatchingWindow, got ${props.queueBatchSize} with none`);
  }
  if (props.maxEventAge !== undefined && props.trigger === TriggerMode.QUEUE) {
    errors.push('maxEventAge applies to asynchronous invocations; in queue mode messages are kept by the queue');
  }
  queueOnly('queueMaxReceiveCount', props.queueMaxReceiveCount);
  queueOnly('queueMaxConcurrency', props.queueMaxConcurrency);
  queueOnly('concurrency', props.concurrency);
  errors.push(...concurrencyProblems(props));
  if (props.trigger === TriggerMode.QUEUE) errors.push(...queueProblems(props));
  if (props.encryptionKey !== undefined && props.inputBucket !== undefined && props.outputBucket !== undefined) {
    errors.push('encryptionKey encrypts the buckets this construct creates, and both buckets were given: set encryption on your own buckets instead');
  }
  errors.push(...durationProblems('maxEventAge', props.maxEventAge, LIMITS.maxEventAgeSeconds, 'from 1 minute to 6 hours'));
  const createdOnly = (name: string, given: unknown, bucket: unknown, bucketName: string) => {
    if (given !== undefined && bucket !== undefined) {
      errors.push(`${name} applies to the bucket this construct creates, and ${bucketName} was given: set it on your own bucket instead`);
    }
  };
  createdOnly('inputBucketCors', props.inputBucketCors, props.inputBucket, 'inputBucket');
  createdOnly('inputBucketLifecycleRules', props.inputBucketLifecycleRules, props.inputBucket, 'inputBucket');
  createdOnly('outputBucketLifecycleRules', props.outputBucketLifecycleRules, props.outputBucket, 'outputBucket');
  if (props.uploadApi !== undefined) {
    errors.push(...uploadApiProblems(props.uploadApi, {
      inputSuffixes: suffixes,
      acceptedFormats: props.acceptedFormats ?? contract.DEFAULTS.acceptedFormats,
      maxInputBytes: props.maxInputBytes?.toBytes() ?? contract.DEFAULTS.maxInputBytes,
      memorySizeMb: props.memorySize ?? contract.DEFAULTS.memorySizeMb,
      concurrency: props.concurrency ?? contract.DEFAULTS.concurrency,
      rulePrefixes: Array.isArray(props.rules) ? props.rules.map((r) => r?.prefix) : undefined,
    }, 'uploadApi.'));
  }
  errors.push(...contract.featuresProblems({ manifest: props.manifest, processDeletes: props.processDeletes, labels: props.labels }, isUnknown));
  const inventoryPrefix = props.batchOperations?.inventoryPrefix;
  errors.push(...contract.prefixProblems('batchOperations.inventoryPrefix', inventoryPrefix, isUnknown));
  if (inventoryPrefix !== undefined && props.batchOperations?.inventoryBucket === undefined) {
    errors.push('batchOperations.inventoryPrefix applies to batchOperations.inventoryBucket, which was not given');
  }
  const layerArch = props.sharpLayer?.architecture;
  const processorArch = props.architecture ?? DEFAULT_ARCHITECTURE;
  if (layerArch !== undefined && layerArch.name !== processorArch.name) {
    errors.push(`sharpLayer holds sharp for ${layerArch.name}, but the processor's architecture is ${processorArch.name}`);
  }

  if (errors.length > 0) {
    throw new PropsError(scope, errors);
  }
}

/**
 * The key prefixes of the pipeline's input notifications: the input prefix, or with rules each
 * rule's prefix under it.
 */
export function notificationPrefixes(props: ImagePreprocessingPipelineProps): string[] {
  const inputPrefix = props.inputPrefix ?? contract.DEFAULTS.inputPrefix;
  const rules = Array.isArray(props.rules) && !Token.isUnresolved(props.rules) ? props.rules : undefined;
  if (rules === undefined || rules.length === 0) return [inputPrefix];
  return rules.map((r) => `${inputPrefix}${typeof r?.prefix === 'string' ? r.prefix : ''}`);
}

function durationProblems(name: string, d: Duration | undefined, range: { min: number; max: number }, rule: string): string[] {
  const seconds = d?.toSeconds();
  if (seconds === undefined || Token.isUnresolved(seconds) || (seconds >= range.min && seconds <= range.max)) return [];
  return [`${name} must be ${rule}, got ${d!.toHumanString()}`];
}

/**
 * Queue mode, as Lambda's documentation for SQS event sources advises:
 * - retries are the queue's receives (`queueMaxReceiveCount`, at least 5: "set the maxReceiveCount
 *   on the source queue's redrive policy to at least 5"; a batch Lambda could not run because the
 *   function was throttled is received again and counts),
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
 * - the event source's maximum concurrency caps what Lambda reads to what the function may run; it
 *   is 2 to 1000 and should not exceed the function's reserved concurrency, or Lambda takes
 *   messages it is then throttled on,
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
 *   https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html
 */
function queueProblems(props: ImagePreprocessingPipelineProps): string[] {
  const { LIMITS } = contract;
  const problems: string[] = [];
  if (props.retryAttempts !== undefined) {
    problems.push('retryAttempts applies to asynchronous invocations; in queue mode an upload is tried until it has been '
      + `received queueMaxReceiveCount times (${LIMITS.queueMaxReceiveCount.min} to ${LIMITS.queueMaxReceiveCount.max}), then goes to the failure queue`);
  }
  const reserved = props.reservedConcurrency;
  const known = (v?: number): v is number => v !== undefined && !Token.isUnresolved(v);
  if (known(reserved) && reserved >= 1 && reserved < LIMITS.queueMaxConcurrency.min) {
    problems.push(`reservedConcurrency must be at least ${LIMITS.queueMaxConcurrency.min} with trigger TriggerMode.QUEUE, got ${reserved}: `
      + `it sets the upload queue's maximum concurrency, which is ${LIMITS.queueMaxConcurrency.min} to ${LIMITS.queueMaxConcurrency.max}; `
      + 'without it Lambda reads batches the function is throttled on, and they reach the failure queue unprocessed');
  }
  const max = props.queueMaxConcurrency;
  if (known(max) && known(reserved) && max > reserved) {
    problems.push(`queueMaxConcurrency (${max}) must not exceed reservedConcurrency (${reserved}): Lambda would read batches `
      + 'the function is throttled on');
  }
  return problems;
}

/**
 * The records one invocation processes at once: within the contract's range, no more than a batch
 * holds, and each with the memory a 24 MP JPEG needs.
 */
function concurrencyProblems(props: ImagePreprocessingPipelineProps): string[] {
  const { LIMITS, DEFAULTS } = contract;
  const c = props.concurrency;
  const problems = contract.integerProblems('concurrency', c, LIMITS.concurrency, isUnknown);
  if (c === undefined || problems.length > 0 || isUnknown(c)) return problems;
  const batch = props.queueBatchSize ?? DEFAULTS.queueBatchSize;
  if (!isUnknown(batch) && c > batch) problems.push(`concurrency (${c}) must not exceed queueBatchSize (${batch}): an invocation gets no more records than that`);
  const memory = props.memorySize ?? DEFAULTS.memorySizeMb;
  const needed = contract.HANDLER_BASELINE_MB + LIMITS.recordMemoryMb * c;
  if (!isUnknown(memory) && memory < needed) {
    problems.push(`concurrency ${c} needs a memorySize of at least ${needed} MB (${contract.HANDLER_BASELINE_MB} MB for the handler and `
      + `${LIMITS.recordMemoryMb} MB per record at once), got ${memory}`);
  }
  return problems;
}

/** The upload queue's event source maximum concurrency, if any: `queueMaxConcurrency`, else `reservedConcurrency` up to 1000. */
export function queueMaxConcurrency(props: ImagePreprocessingPipelineProps): number | undefined {
  if (props.queueMaxConcurrency !== undefined) return props.queueMaxConcurrency;
  const reserved = props.reservedConcurrency;
  if (reserved === undefined || Token.isUnresolved(reserved)) return reserved;
  return Math.min(reserved, contract.LIMITS.queueMaxConcurrency.max);
}

// ---------------------------------------------------------------------------------------------
// Buckets: the same bucket, however it was given

function sameBucket(scope: IConstruct, a?: s3.IBucket, b?: s3.IBucket): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return intersects(bucketIdentity(scope, a), bucketIdentity(scope, b));
}

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return [...a].some((k) => b.has(k));
}

/**
 * What a bucket is known to be, as keys that two `IBucket`s for one bucket share: its literal
 * name (`name:`), the bucket resource its name or ARN refers to (`bucket:` and the resource's
 * construct path, so that one logical ID in two stacks is two buckets), or, for any other token,
 * the expression it resolves to (`expr:`). `Bucket.fromBucketName(scope, 'X', b.bucketName)` and
 * `Bucket.fromBucketArn(scope, 'Y', b.bucketArn)` are both `b`.
 */
export function bucketIdentity(scope: IConstruct, bucket: s3.IBucket): Set<string> {
  const keys = new Set<string>();
  const stack = Stack.of(scope);
  for (const [value, isArn] of [[bucket.bucketName, false], [bucket.bucketArn, true]] as const) {
    if (!Token.isUnresolved(value)) {
      const name = isArn ? S3_ARN.exec(value)?.[1] : value;
      if (name) keys.add(`name:${name}`);
      continue;
    }
    let resolved: unknown;
    let targets: CfnElement[];
    try {
      resolved = stack.resolve(value);
      targets = referencedElements(stack, value);
    } catch {
      continue; // a token that cannot be resolved yet tells nothing
    }
    const logicalId = bucketLogicalId(resolved);
    const bucketResource = logicalId === undefined ? undefined
      : targets.find((t) => CfnResource.isCfnResource(t) && t.cfnResourceType === s3.CfnBucket.CFN_RESOURCE_TYPE_NAME
        && Stack.of(t).getLogicalId(t) === logicalId) as s3.CfnBucket | undefined;
    if (bucketResource) {
      keys.add(`bucket:${bucketResource.node.path}`);
      const literal = bucketResource.bucketName;
      if (literal !== undefined && !Token.isUnresolved(literal)) keys.add(`name:${literal}`);
    } else {
      keys.add(`expr:${isArn ? 'arn' : 'name'}:${JSON.stringify(resolved)}@${targets.map((t) => t.node.path).sort().join(',')}`);
    }
  }
  return keys;
}

const S3_ARN = /^arn:[^:]+:s3:::([^/]+)$/;

/**
 * The logical ID of the bucket resource a resolved bucket name or ARN stands for, in the forms
 * aws-cdk-lib gives them: `{ Ref }` and `{ Fn::GetAtt: [id, Arn] }` of a bucket; the ARN built from
 * a name (`Fn::Join` of `arn:`, the partition, `:s3:::` and the name); the name cut from an ARN
 * (`Fn::Select`/`Fn::Split`, as `Bucket.fromBucketArn` does).
 */
function bucketLogicalId(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1) return undefined;
  if (typeof o.Ref === 'string') return o.Ref.startsWith('AWS::') ? undefined : o.Ref;
  const getAtt = o['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return getAtt.length === 2 && getAtt[1] === 'Arn' && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
  const join = o['Fn::Join'];
  if (Array.isArray(join) && join[0] === '' && Array.isArray(join[1])) {
    const [arn, partition, s3Part, name, ...rest] = join[1] as unknown[];
    if (arn === 'arn:' && JSON.stringify(partition) === '{"Ref":"AWS::Partition"}' && s3Part === ':s3:::' && rest.length === 0) {
      return bucketLogicalId(name);
    }
    return undefined;
  }
  // name from ARN: select 0 of split "/" of (select 5 of split ":" of the ARN)
  const outer = selectOfSplit(o, 0, '/');
  if (outer === undefined) return undefined;
  const inner = selectOfSplit(outer, 5, ':');
  return inner === undefined ? undefined : bucketLogicalId(inner);
}

function selectOfSplit(v: unknown, index: number, delimiter: string): unknown {
  const select = (v as Record<string, unknown> | null)?.['Fn::Select'];
  if (!Array.isArray(select) || select.length !== 2 || Number(select[0]) !== index) return undefined;
  const split = (select[1] as Record<string, unknown> | null)?.['Fn::Split'];
  if (!Array.isArray(split) || split.length !== 2 || split[0] !== delimiter) return undefined;
  return split[1];
}

/** Records the construct each reference in a value refers to, while resolving it. */
class ReferenceRecorder extends DefaultTokenResolver {
  public readonly targets: CfnElement[] = [];
  constructor() {
    super(new StringConcat());
  }
  public resolveToken(t: IResolvable, context: IResolveContext, postProcessor: IPostProcessor): unknown {
    if (Reference.isReference(t) && CfnElement.isCfnElement(t.target)) this.targets.push(t.target);
    return super.resolveToken(t, context, postProcessor);
  }
}

function referencedElements(stack: Stack, value: unknown): CfnElement[] {
  const recorder = new ReferenceRecorder();
  Tokenization.resolve(value, { scope: stack, resolver: recorder, preparing: false });
  return recorder.targets;
}

// ---------------------------------------------------------------------------------------------
// S3 notifications: configurations for one event type may not overlap
//
// S3 refuses a bucket's notification configurations for one event type whose key filters could
// both match one key ("Configurations overlap"): overlapping prefixes, overlapping suffixes, or a
// prefix and a suffix that overlap. Two filters overlap when both their prefixes and their
// suffixes do: one prefix starts with the other, one suffix ends with the other, and a filter
// left out is the empty string, which overlaps every other.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html

/** The ObjectCreated notifications a pipeline puts on its input bucket. */
interface InputNotifications {
  readonly path: string;
  readonly bucket: ReadonlySet<string>;
  readonly prefix: string;
  readonly suffixes: readonly string[];
}

/** The pipelines of each app (by its root construct), in the order they were made. */
const pipelinesByApp = new WeakMap<IConstruct, InputNotifications[]>();

/** Records a pipeline's input notifications, for the checks of the pipelines made after it. */
export function registerInputNotifications(pipeline: IConstruct, bucket: s3.IBucket, prefix: string, suffixes: readonly string[]): void {
  const root = pipeline.node.root;
  const list = pipelinesByApp.get(root) ?? [];
  list.push({ path: pipeline.node.path, bucket: bucketIdentity(pipeline, bucket), prefix, suffixes });
  pipelinesByApp.set(root, list);
}

function suffixesOverlap(a: string, b: string): boolean {
  return a.endsWith(b) || b.endsWith(a);
}

/** True when an ObjectCreated key could match both filters. */
function filtersOverlap(a: { prefix: string; suffixes: readonly string[] }, b: { prefix: string; suffixes: readonly string[] }): boolean {
  if (!contract.prefixesOverlap(a.prefix, b.prefix)) return false;
  const as = a.suffixes.length === 0 ? [''] : a.suffixes;
  const bs = b.suffixes.length === 0 ? [''] : b.suffixes;
  return as.some((x) => bs.some((y) => suffixesOverlap(x, y)));
}

/** Each suffix is a notification of its own, so no two may overlap. */
function suffixesProblems(suffixes: readonly string[]): string[] {
  const problems: string[] = [];
  suffixes.forEach((a, i) => suffixes.slice(0, i).forEach((b) => {
    if (a.length > 0 && b.length > 0 && !Token.isUnresolved(a) && !Token.isUnresolved(b) && suffixesOverlap(a, b)) {
      problems.push(`inputSuffixes "${b}" and "${a}" overlap (one ends with the other): S3 refuses overlapping notifications on one bucket`);
    }
  }));
  return problems;
}

function otherPipelinesProblems(pipeline: IConstruct, bucket: s3.IBucket, prefix: string, suffixes: readonly string[]): string[] {
  if (Token.isUnresolved(prefix) || suffixes.some((s) => Token.isUnresolved(s))) return [];
  const identity = bucketIdentity(pipeline, bucket);
  const mine = { prefix, suffixes };
  return (pipelinesByApp.get(pipeline.node.root) ?? [])
    .filter((other) => intersects(identity, other.bucket) && filtersOverlap(mine, other))
    .map((other) => `inputBucket is also the input bucket of ${other.path}, and the ObjectCreated notifications of `
      + `${pipeline.node.path} (${filterText(mine)}) and of ${other.path} (${filterText(other)}) overlap: S3 refuses `
      + 'overlapping notifications on one bucket ("Configurations overlap") and the deploy would fail; give the pipelines '
      + 'input prefixes that do not start with one another, or suffixes that do not end with one another');
}

function filterText(f: { prefix: string; suffixes: readonly string[] }): string {
  const suffixes = f.suffixes.length === 0 ? 'any suffix' : `suffixes ${f.suffixes.map((s) => `"${s}"`).join(', ')}`;
  return `inputPrefix "${f.prefix}", ${suffixes}`;
}

/**
 * Props that cannot work, every problem named; the message names the construct path, so that a
 * stack with several pipelines says which one failed.
 */
export class PropsError extends Error {
  constructor(scope: IConstruct, readonly problems: string[]) {
    super(`Invalid ImagePreprocessingPipeline props at ${scope.node.path}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ValidationError';
  }
}
