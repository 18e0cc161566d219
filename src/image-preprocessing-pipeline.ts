import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  CONFIG_ENV_VAR, DEFAULTS, DETAIL_TYPES, EVENT_SOURCE, METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE, type DetailType, type InputFormat,
} from './contract';
import { ImagePreprocessingPipelineProps } from './pipeline-props';
import { createAlarms, createDashboard } from './private/monitoring';
import { acknowledgeFindings } from './private/nag';
import { ProcessImageFunction } from './private/process-image-function';
import { batchOperationsRole, processorRole } from './private/processor-role';
import { pipelineDocument, resolveSettings, type PipelineSettings } from './private/settings';
import { describePipelineForApi } from './private/upload-api-pipeline';
import { notificationPrefixes, registerInputNotifications } from './private/validation';
import { SharpLayer } from './sharp-layer';
import { UploadApi } from './upload-api';

/**
 * Uploads to an S3 bucket become resized images in another: an S3-triggered Lambda function
 * decodes each new object with sharp (from a layer this library ships), writes every configured
 * variant, and records what it cannot process; with least-privilege IAM, a failure queue and
 * alarms.
 *
 * @example
 * const pipeline = new ImagePreprocessingPipeline(this, 'Images');
 */
export class ImagePreprocessingPipeline extends Construct {
  /** The bucket whose uploads are processed. */
  public readonly inputBucket: s3.IBucket;

  /** The bucket the variants and failure records are written to. */
  public readonly outputBucket: s3.IBucket;

  /** The function that processes uploads. */
  public readonly processor: lambda.IFunction;

  /** The sharp layer of the processor. */
  public readonly sharpLayer: SharpLayer;

  /** Receives the events that still failed after Lambda's retries (or the queue's receives). */
  public readonly failureQueue: sqs.IQueue;

  /** The bus the ImageProcessed and ImageRejected events go to; undefined when `emitEvents` is false. */
  public readonly eventBus?: events.IEventBus;

  /** In queue mode, the queue S3 notifications go to; undefined otherwise. */
  public readonly uploadQueue?: sqs.IQueue;

  /**
   * The alarms: errors, throttles, duration near the timeout, failure-queue depth, recursive
   * invocations dropped, rejected images, and async events dropped and their age (or, in queue
   * mode, the age of the oldest upload message).
   */
  public readonly alarms: cloudwatch.IAlarm[];

  /**
   * A CloudWatch dashboard of the pipeline: the original system's metrics and the images processed
   * and rejected; undefined when `createDashboard` is false.
   */
  public readonly dashboard?: cloudwatch.Dashboard;

  /** The JSON document the processor reads from its `PIPELINE_CONFIG` environment variable. */
  public readonly pipelineConfig: string;

  /**
   * The role for S3 Batch Operations jobs that run the processor over existing objects, when the
   * `batchOperations` prop asks for one: it may invoke the processor, read the jobs' manifests and
   * write their reports.
   */
  public readonly batchOperationsRole?: iam.IRole;

  /** The upload API, when the `uploadApi` prop asks for one. */
  public readonly uploadApi?: UploadApi;

  private readonly processorFunction: lambda.Function;
  private readonly inputPrefix: string;
  private readonly outputPrefix: string;

  constructor(scope: Construct, id: string, props: ImagePreprocessingPipelineProps = {}) {
    super(scope, id);
    const settings = resolveSettings(this, props);
    const { inputPrefix, outputPrefix, queueMode, timeout } = settings;
    this.inputPrefix = inputPrefix;
    this.outputPrefix = outputPrefix;

    this.inputBucket = props.inputBucket ?? this.newBucket('InputBucket', settings.removalPolicy, props.encryptionKey, {
      cors: props.inputBucketCors,
      lifecycleRules: props.inputBucketLifecycleRules,
    });
    this.outputBucket = props.outputBucket ?? this.newBucket('OutputBucket', settings.removalPolicy, props.encryptionKey, {
      lifecycleRules: props.outputBucketLifecycleRules,
    });

    if (settings.emitEvents) {
      this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultEventBus', 'default');
    }

    this.pipelineConfig = pipelineDocument(this, props, settings, {
      inputBucket: this.inputBucket.bucketName,
      outputBucket: this.outputBucket.bucketName,
      // by ARN: a bus of another account is not the bus of the same name in this one
      eventBusName: this.eventBus?.eventBusArn,
    });

    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.sharpLayer = props.sharpLayer ?? sharedSharpLayer(this, settings.architecture);

    const logGroup = new logs.LogGroup(this, 'ProcessorLogs', { retention: settings.logRetention });
    const role = processorRole(this, {
      logGroup,
      inputBucket: this.inputBucket,
      inputPrefix,
      outputBucket: this.outputBucket,
      outputPrefix,
      eventBus: this.eventBus,
      labels: props.labels !== undefined,
    });

    this.processorFunction = new ProcessImageFunction(this, 'Processor', {
      description: 'Makes the configured image variants of each upload',
      runtime: lambda.Runtime.NODEJS_24_X,
      role,
      architecture: settings.architecture,
      memorySize: settings.memorySize,
      timeout,
      layers: [this.sharpLayer],
      environment: { [CONFIG_ENV_VAR]: this.pipelineConfig },
      loggingFormat: lambda.LoggingFormat.JSON,
      // Nothing logged per request: the handler writes one line per image, which is also its metric;
      // Lambda's own start and report lines (its duration and memory are metrics already) are not kept.
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      tracing: props.tracing,
      ...(queueMode ? {} : {
        retryAttempts: settings.retryAttempts,
        maxEventAge: settings.maxEventAge,
        onFailure: new destinations.SqsDestination(this.failureQueue),
      }),
    });
    this.processor = this.processorFunction;
    this.uploadQueue = queueMode ? this.connectQueue(props, settings) : undefined;
    const suffixes = props.inputSuffixes ?? [];
    // One notification per prefix (the input prefix, or each rule's) and suffix.
    const prefixes = notificationPrefixes(props);
    this.subscribe(prefixes, suffixes, this.uploadQueue
      ? new s3n.SqsDestination(this.uploadQueue)
      : new s3n.LambdaDestination(this.processorFunction));
    for (const prefix of prefixes) registerInputNotifications(this, this.inputBucket, prefix, suffixes);
    if (settings.processDeletes) this.subscribeRemovals(prefixes, suffixes);

    this.alarms = createAlarms(this, {
      timeout,
      queueMode,
      rejectedImagesAlarmThreshold: settings.rejectedImagesAlarmThreshold,
      alarmTopic: props.alarmTopic,
    });
    this.dashboard = settings.createDashboard ? createDashboard(this, queueMode) : undefined;
    if (props.batchOperations) {
      this.batchOperationsRole = batchOperationsRole(this, {
        processor: this.processorFunction,
        outputBucket: this.outputBucket,
        outputPrefix,
        inventoryBucket: props.batchOperations.inventoryBucket,
        inventoryPrefix: props.batchOperations.inventoryPrefix,
      });
    }
    acknowledgeFindings(this, {
      bucketIds: ['InputBucket', 'OutputBucket'],
      failureQueue: this.failureQueue,
      role,
      inputBucket: this.inputBucket,
      inputPrefix,
      outputBucket: this.outputBucket,
      outputPrefix,
    });
    describePipelineForApi(this, {
      inputBucket: this.inputBucket,
      outputBucket: this.outputBucket,
      pipelineConfig: this.pipelineConfig,
      inputBucketCreated: props.inputBucket === undefined,
      inputPrefix,
      outputPrefix,
      inputSuffixes: props.inputSuffixes ?? [],
      acceptedFormats: (props.acceptedFormats as readonly InputFormat[] | undefined) ?? DEFAULTS.acceptedFormats,
      maxInputBytes: props.maxInputBytes?.toBytes() ?? DEFAULTS.maxInputBytes,
      memorySizeMb: settings.memorySize,
      concurrency: props.concurrency ?? DEFAULTS.concurrency,
      rulePrefixes: props.rules?.map((r) => r.prefix),
      alarmTopic: props.alarmTopic,
    });
    if (props.uploadApi) this.uploadApi = new UploadApi(this, 'UploadApi', { ...props.uploadApi, pipeline: this });
  }

  /**
   * A rule on the pipeline's event bus that matches this pipeline's `ImageProcessed` events, whose
   * detail is `{ pipeline, bucket, key, eTag, size, outputBucket, outputs: [{ variant, key, bytes,
   * width, height, format }], ms }`, with `labels` when `labels` is set and `manifestKey` and
   * `manifest` when `manifest` is. Give a target in `options` or add one to the rule.
   */
  public onImageProcessed(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onImageEvent(id, DETAIL_TYPES.processed, options);
  }

  /**
   * A rule on the pipeline's event bus that matches this pipeline's `ImageRejected` events, whose
   * detail is `{ pipeline, bucket, key, eTag, size, reason, message, outputBucket, failureRecord }`.
   */
  public onImageRejected(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onImageEvent(id, DETAIL_TYPES.rejected, options);
  }

  private onImageEvent(id: string, detailType: DetailType, options: events.OnEventOptions): events.Rule {
    if (!this.eventBus) {
      throw new Error(`on${detailType} of ${this.node.path}: this pipeline sends no events (emitEvents is false)`);
    }
    const rule = new events.Rule(this, id, {
      eventBus: this.eventBus,
      description: options.description ?? `${detailType} events of ${this.node.path}`,
      ruleName: options.ruleName,
      crossStackScope: options.crossStackScope,
    });
    rule.addEventPattern({
      source: [EVENT_SOURCE],
      detailType: [detailType],
      detail: { pipeline: [this.processorFunction.functionName] },
    });
    rule.addEventPattern(options.eventPattern);
    if (options.target) rule.addTarget(options.target);
    return rule;
  }

  /**
   * Lets a principal upload images to the input prefix.
   */
  public grantUpload(grantee: iam.IGrantable): iam.Grant {
    return this.inputBucket.grantPut(grantee, `${this.inputPrefix}*`);
  }

  /**
   * Lets a principal read the variants and failure records.
   */
  public grantReadOutput(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.outputBucket.arnForObjects(`${this.outputPrefix}*`)],
    });
  }

  /** Processor errors (invocations that threw, such as transient S3 failures). */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metricErrors(props);
  }

  /** Processor invocations. */
  public metricInvocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metricInvocations(props);
  }

  /** Processor duration. */
  public metricDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metricDuration(props);
  }

  /** Processor throttles. */
  public metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metricThrottles(props);
  }

  /** Concurrent executions of the processor. */
  public metricConcurrentExecutions(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorMetric('ConcurrentExecutions', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /** How long upload events waited before the processor ran them, in milliseconds (trigger S3_NOTIFICATION). */
  public metricAsyncEventAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorMetric('AsyncEventAge', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /** Upload events Lambda dropped without running them (trigger S3_NOTIFICATION). */
  public metricAsyncEventsDropped(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorMetric('AsyncEventsDropped', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  /** Uploads made into their variants (an embedded metric the processor logs). */
  public metricImagesProcessed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.pipelineMetric(METRIC_NAMES.processed, props);
  }

  /** Uploads rejected with a failure record (an embedded metric the processor logs). */
  public metricImagesRejected(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.pipelineMetric(METRIC_NAMES.rejected, props);
  }

  /** Events waiting in the failure queue. */
  public metricFailureQueueDepth(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.failureQueue.metricApproximateNumberOfMessagesVisible(props);
  }

  private pipelineMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { [METRIC_DIMENSIONS.pipeline]: this.processorFunction.functionName },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  private newBucket(id: string, removalPolicy: RemovalPolicy, encryptionKey: kms.IKey | undefined,
    extra: Pick<s3.BucketProps, 'cors' | 'lifecycleRules'>): s3.Bucket {
    return new s3.Bucket(this, id, {
      ...extra,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey,
      bucketKeyEnabled: encryptionKey ? true : undefined,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    });
  }

  private processorMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metric(metricName, props);
  }

  /**
   * Deletes under each of `prefixes` (with one of the suffixes, if any) notify the processor, as
   * uploads do: directly, or through the upload queue in queue mode.
   */
  private subscribeRemovals(prefixes: string[], suffixes: string[]): void {
    const destination = this.uploadQueue ? new s3n.SqsDestination(this.uploadQueue) : new s3n.LambdaDestination(this.processorFunction);
    for (const prefix of prefixes) {
      const filters: s3.NotificationKeyFilter[][] = suffixes.length === 0
        ? [prefix ? [{ prefix }] : []]
        : suffixes.map((suffix) => [prefix ? { prefix, suffix } : { suffix }]);
      for (const filter of filters) this.inputBucket.addEventNotification(s3.EventType.OBJECT_REMOVED, destination, ...filter);
    }
  }

  /**
   * Queue mode: S3 notifications go to an upload queue that the processor reads in batches, as
   * Lambda's guidance for SQS event sources has it
   * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html and
   * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html):
   * - visibility timeout at least six times the function's timeout plus the batching window, so
   *   that Lambda can retry a throttled batch before its messages are visible again;
   * - the failure queue after `queueMaxReceiveCount` receives (at least 5), since throttled
   *   batches count as receives;
   * - the event source's maximum concurrency (`queueMaxConcurrency`, else `reservedConcurrency`),
   *   so that Lambda reads no more batches than the function may run.
   */
  private connectQueue(props: ImagePreprocessingPipelineProps, settings: PipelineSettings): sqs.Queue {
    const window = props.queueMaxBatchingWindow?.toSeconds() ?? 0;
    const uploadQueue = new sqs.Queue(this, 'UploadQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // at most 6 x 900 + 300 seconds, well inside SQS's 12 hours
      visibilityTimeout: Duration.seconds(settings.timeout.toSeconds() * 6 + window),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.failureQueue, maxReceiveCount: settings.queueMaxReceiveCount },
    });
    this.processorFunction.addEventSource(new lambdaEventSources.SqsEventSource(uploadQueue, {
      batchSize: settings.queueBatchSize,
      maxBatchingWindow: props.queueMaxBatchingWindow,
      maxConcurrency: settings.queueMaxConcurrency,
      reportBatchItemFailures: true,
    }));
    return uploadQueue;
  }

  /** Uploads under each of `prefixes` (with one of the suffixes, if any) notify `destination`. */
  private subscribe(prefixes: string[], suffixes: string[], destination: s3.IBucketNotificationDestination): void {
    for (const prefix of prefixes) {
      if (suffixes.length === 0) {
        this.inputBucket.addEventNotification(s3.EventType.OBJECT_CREATED, destination, ...(prefix ? [{ prefix }] : []));
      }
      for (const suffix of suffixes) {
        this.inputBucket.addEventNotification(s3.EventType.OBJECT_CREATED, destination, prefix ? { prefix, suffix } : { suffix });
      }
    }
  }
}

/** The stack's SharpLayer of `architecture`, made by the first pipeline that needs it. */
function sharedSharpLayer(scope: Construct, architecture: lambda.Architecture): SharpLayer {
  const stack = Stack.of(scope);
  const id = `ImagePipelineSharpLayer-${architecture.name}`;
  return (stack.node.tryFindChild(id) as SharpLayer | undefined) ?? new SharpLayer(stack, id, { architecture });
}
