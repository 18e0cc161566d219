import { Duration, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as contract from '../contract';
import { ImagePreprocessingPipelineProps, TriggerMode } from '../pipeline-props';
import { ImageFit, InputFormat, OutputFormat } from '../variant';

// The public enums are the contract's lists under jsii-friendly names: these lines fail to
// compile if an enum and its list ever hold different values.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const enumsMatchContract: [
  Same<`${ImageFit}`, contract.Fit>,
  Same<`${OutputFormat}`, contract.OutputFormat>,
  Same<`${InputFormat}`, contract.InputFormat>,
  Same<`${TriggerMode}`, contract.Trigger>,
] = [true, true, true, true];
void enumsMatchContract;

const isUnknown: contract.IsUnknown = (v) => Token.isUnresolved(v);

/**
 * Checks every prop before anything is created; each message names the prop and the value. The
 * document's fields follow the contract's rules, the same the handler applies at init.
 */
export function validateProps(props: ImagePreprocessingPipelineProps): void {
  const { LIMITS } = contract;
  const errors: string[] = [
    ...contract.prefixProblems('inputPrefix', props.inputPrefix, isUnknown),
    ...contract.prefixProblems('outputPrefix', props.outputPrefix, isUnknown),
    ...contract.variantsProblems(props.variants, isUnknown),
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

  for (const s of props.inputSuffixes ?? []) {
    if (!Token.isUnresolved(s) && s.length === 0) errors.push('inputSuffixes must not contain an empty string');
  }
  if (sameBucket(props.inputBucket, props.outputBucket)) {
    const name = props.inputBucket!.bucketName;
    errors.push(...contract.sharedBucketProblems(props.inputPrefix ?? contract.DEFAULTS.inputPrefix,
      props.outputPrefix ?? contract.DEFAULTS.outputPrefix, Token.isUnresolved(name) ? undefined : name));
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
  if (props.trigger === TriggerMode.QUEUE) errors.push(...queueProblems(props));
  if (props.encryptionKey !== undefined && props.inputBucket !== undefined && props.outputBucket !== undefined) {
    errors.push('encryptionKey encrypts the buckets this construct creates, and both buckets were given: set encryption on your own buckets instead');
  }
  errors.push(...durationProblems('maxEventAge', props.maxEventAge, LIMITS.maxEventAgeSeconds, 'from 1 minute to 6 hours'));

  if (errors.length > 0) {
    throw new Error(`Invalid ImagePreprocessingPipeline props:\n  - ${errors.join('\n  - ')}`);
  }
}

function durationProblems(name: string, d: Duration | undefined, range: { min: number; max: number }, rule: string): string[] {
  const seconds = d?.toSeconds();
  if (seconds === undefined || Token.isUnresolved(seconds) || (seconds >= range.min && seconds <= range.max)) return [];
  return [`${name} must be ${rule}, got ${d!.toHumanString()}`];
}

function sameBucket(a?: s3.IBucket, b?: s3.IBucket): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return !Token.isUnresolved(a.bucketName) && a.bucketName === b.bucketName;
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

/** The upload queue's event source maximum concurrency, if any: `queueMaxConcurrency`, else `reservedConcurrency` up to 1000. */
export function queueMaxConcurrency(props: ImagePreprocessingPipelineProps): number | undefined {
  if (props.queueMaxConcurrency !== undefined) return props.queueMaxConcurrency;
  const reserved = props.reservedConcurrency;
  if (reserved === undefined || Token.isUnresolved(reserved)) return reserved;
  return Math.min(reserved, contract.LIMITS.queueMaxConcurrency.max);
}
