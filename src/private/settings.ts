import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { IConstruct } from 'constructs';
import * as contract from '../contract';
import { ImagePreprocessingPipelineProps, TriggerMode } from '../pipeline-props';
import { DEFAULT_ARCHITECTURE } from './architecture';
import { queueMaxConcurrency, validateProps } from './validation';


/** The props with every default filled in: the contract's values, as aws-cdk-lib types. */
export interface PipelineSettings {
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly removalPolicy: RemovalPolicy;
  readonly architecture: lambda.Architecture;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly queueMode: boolean;
  readonly retryAttempts: number;
  readonly maxEventAge: Duration;
  readonly logRetention: logs.RetentionDays;
  readonly queueBatchSize: number;
  readonly queueMaxReceiveCount: number;
  /** The upload queue's event source maximum concurrency; undefined for none. */
  readonly queueMaxConcurrency?: number;
  readonly emitEvents: boolean;
  readonly rejectedImagesAlarmThreshold: number;
  readonly createDashboard: boolean;
  readonly processDeletes: boolean;
}

/** Checks the props of the pipeline `scope` (throwing with every problem named) and fills in the defaults. */
export function resolveSettings(scope: IConstruct, props: ImagePreprocessingPipelineProps): PipelineSettings {
  validateProps(scope, props);
  const { DEFAULTS } = contract;
  return {
    inputPrefix: props.inputPrefix ?? DEFAULTS.inputPrefix,
    outputPrefix: props.outputPrefix ?? DEFAULTS.outputPrefix,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    architecture: props.architecture ?? DEFAULT_ARCHITECTURE,
    memorySize: props.memorySize ?? DEFAULTS.memorySizeMb,
    timeout: props.timeout ?? Duration.seconds(DEFAULTS.timeoutSeconds),
    queueMode: (props.trigger ?? DEFAULTS.trigger) === TriggerMode.QUEUE,
    retryAttempts: props.retryAttempts ?? DEFAULTS.retryAttempts,
    maxEventAge: props.maxEventAge ?? Duration.seconds(DEFAULTS.maxEventAgeSeconds),
    logRetention: props.logRetention ?? DEFAULTS.logRetentionDays as logs.RetentionDays,
    queueBatchSize: props.queueBatchSize ?? DEFAULTS.queueBatchSize,
    queueMaxReceiveCount: props.queueMaxReceiveCount ?? DEFAULTS.queueMaxReceiveCount,
    queueMaxConcurrency: queueMaxConcurrency(props),
    emitEvents: props.emitEvents ?? DEFAULTS.emitEvents,
    rejectedImagesAlarmThreshold: props.rejectedImagesAlarmThreshold ?? DEFAULTS.rejectedImagesAlarmThreshold,
    createDashboard: props.createDashboard ?? DEFAULTS.createDashboard,
    processDeletes: props.processDeletes ?? DEFAULTS.processDeletes,
  };
}

/** Where the document sends events, if anywhere. */
export interface DocumentTargets {
  readonly inputBucket: string;
  readonly outputBucket: string;
  readonly eventBusName?: string;
}

/**
 * The processor's `PIPELINE_CONFIG` document, typed by the contract, as the JSON string the
 * function's environment holds (bucket and bus names may be tokens, resolved at deploy time).
 */
export function pipelineDocument(scope: IConstruct, props: ImagePreprocessingPipelineProps, settings: PipelineSettings,
  targets: DocumentTargets): string {
  const { DEFAULTS } = contract;
  const doc: contract.PipelineConfig = {
    version: contract.CONFIG_VERSION,
    inputBucket: targets.inputBucket,
    outputBucket: targets.outputBucket,
    inputPrefix: settings.inputPrefix,
    outputPrefix: settings.outputPrefix,
    // the public enums hold the contract's values (checked in validation.ts)
    variants: props.rules !== undefined ? []
      : ((props.variants ?? [contract.DEFAULT_VARIANT]) as readonly contract.VariantInput[]).map(contract.completeVariant),
    rules: (props.rules as readonly { prefix: string; variants: contract.VariantInput[] }[] | undefined)?.map(contract.completeRule),
    acceptedFormats: (props.acceptedFormats as readonly contract.InputFormat[] | undefined) ?? DEFAULTS.acceptedFormats,
    maxInputPixels: props.maxInputPixels ?? DEFAULTS.maxInputPixels,
    maxInputBytes: (props.maxInputBytes ?? Size.bytes(DEFAULTS.maxInputBytes)).toBytes(),
    keepMetadata: props.keepMetadata ?? DEFAULTS.keepMetadata,
    concurrency: props.concurrency ?? DEFAULTS.concurrency,
    events: targets.eventBusName === undefined ? undefined : { eventBusName: targets.eventBusName, source: contract.EVENT_SOURCE },
    ...contract.featuresConfig(props),
  };
  return Stack.of(scope).toJsonString(doc);
}
