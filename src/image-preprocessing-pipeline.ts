import { Duration, RemovalPolicy, Size, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource } from './private/nag';
import { ProcessImageFunction } from './private/process-image-function';
import { SharpLayer } from './sharp-layer';

/**
 * How a variant's image fits its width and height.
 */
export enum ImageFit {
  /** Crop to cover both dimensions, keeping the aspect ratio. */
  COVER = 'cover',
  /** Fit inside both dimensions, letterboxed with the background colour. */
  CONTAIN = 'contain',
  /** Stretch to exactly the width and height, ignoring the aspect ratio (the original system). */
  FILL = 'fill',
  /** As large as possible while not larger than either dimension. */
  INSIDE = 'inside',
  /** As small as possible while not smaller than either dimension. */
  OUTSIDE = 'outside',
}

/**
 * The encoding of a variant's output.
 */
export enum OutputFormat {
  /** JPEG, `.jpg`. */
  JPEG = 'jpeg',
  /** PNG, `.png`. */
  PNG = 'png',
  /** WebP, `.webp`. */
  WEBP = 'webp',
  /** AVIF, `.avif`. */
  AVIF = 'avif',
  /** The input's own format (SVG input becomes PNG). */
  ORIGINAL = 'original',
}

/**
 * An image format the processor may accept as input.
 */
export enum InputFormat {
  /** JPEG. */
  JPEG = 'jpeg',
  /** PNG. */
  PNG = 'png',
  /** WebP. */
  WEBP = 'webp',
  /** GIF (first frame). */
  GIF = 'gif',
  /** TIFF (first page). */
  TIFF = 'tiff',
  /** AVIF. */
  AVIF = 'avif',
  /** SVG. Off by default: an SVG can reference other files and URLs. */
  SVG = 'svg',
}

/**
 * How uploads reach the processor.
 */
export enum TriggerMode {
  /** S3 event notifications invoke the function asynchronously; Lambda retries failed events. */
  S3_NOTIFICATION = 's3-notification',
  /**
   * S3 event notifications go to an SQS queue that the function reads in batches, reporting
   * failed messages one by one: for bursts and back-pressure. Messages received too often go to
   * the failure queue.
   */
  QUEUE = 'queue',
}

/**
 * One output image made from every upload.
 *
 * Its key is `<outputPrefix><name>/<input key without inputPrefix and extension>.<extension>`.
 */
export interface ImageVariant {
  /**
   * The variant's name: the first path segment of its output keys. 1 to 64 letters, digits,
   * `.`, `_` or `-`, starting with a letter or digit.
   */
  readonly name: string;

  /**
   * Width of the output, in pixels (1 to 16383).
   *
   * @default - scaled from `height` to keep the aspect ratio; the input's width if neither is set
   */
  readonly width?: number;

  /**
   * Height of the output, in pixels (1 to 16383).
   *
   * @default - scaled from `width` to keep the aspect ratio; the input's height if neither is set
   */
  readonly height?: number;

  /**
   * How the image fits `width` and `height` when both are set.
   *
   * @default ImageFit.COVER
   */
  readonly fit?: ImageFit;

  /**
   * Convert to a one-channel grayscale image.
   *
   * @default false
   */
  readonly grayscale?: boolean;

  /**
   * The output encoding.
   *
   * @default OutputFormat.JPEG
   */
  readonly format?: OutputFormat;

  /**
   * Encoder quality, 1 to 100, for JPEG, WebP and AVIF.
   *
   * @default - 80 for JPEG and WebP, 50 for AVIF
   */
  readonly quality?: number;

  /**
   * Never make the output larger than the input.
   *
   * @default false
   */
  readonly withoutEnlargement?: boolean;

  /**
   * Background colour, `#rgb` or `#rrggbb`: fills `contain` letterboxes and replaces
   * transparency in JPEG output.
   *
   * @default '#ffffff'
   */
  readonly background?: string;
}

/**
 * Properties of an `ImagePreprocessingPipeline`. Every one is optional: the defaults give the
 * original system's behaviour, a grayscale 256x256 JPEG of every upload.
 */
export interface ImagePreprocessingPipelineProps {
  /**
   * The bucket whose uploads are processed.
   *
   * @default - a new bucket: all public access blocked, SSL enforced, S3-managed encryption, retained on delete
   */
  readonly inputBucket?: s3.IBucket;

  /**
   * The bucket the variants and failure records are written to. It may be the input bucket
   * only when `inputPrefix` and `outputPrefix` do not overlap.
   *
   * @default - a new bucket: all public access blocked, SSL enforced, S3-managed encryption, retained on delete
   */
  readonly outputBucket?: s3.IBucket;

  /**
   * Only uploads under this key prefix are processed; it is not repeated in output keys.
   *
   * @default '' (the whole bucket)
   */
  readonly inputPrefix?: string;

  /**
   * Only uploads whose keys end with one of these suffixes are processed (for example `.jpg`).
   *
   * @default - every key under `inputPrefix`
   */
  readonly inputSuffixes?: string[];

  /**
   * Key prefix of everything written to the output bucket.
   *
   * @default ''
   */
  readonly outputPrefix?: string;

  /**
   * The images made from each upload (at most 10). The input is decoded once for all of them.
   *
   * @default - one variant named `grayscale-256`: 256x256, `ImageFit.FILL`, grayscale, JPEG quality 80
   */
  readonly variants?: ImageVariant[];

  /**
   * The input formats processed; anything else gets a failure record.
   *
   * @default - JPEG, PNG, WebP, GIF, TIFF and AVIF
   */
  readonly acceptedFormats?: InputFormat[];

  /**
   * Inputs with more pixels than this (width x height) are rejected before they are decoded.
   *
   * @default 40000000
   */
  readonly maxInputPixels?: number;

  /**
   * Inputs larger than this are rejected before they are downloaded.
   *
   * @default Size.mebibytes(50)
   */
  readonly maxInputBytes?: Size;

  /**
   * Keep the input's metadata (EXIF, GPS, XMP, ICC) in the outputs.
   *
   * @default false - metadata is stripped; EXIF orientation is always applied
   */
  readonly keepMetadata?: boolean;

  /**
   * The processor's architecture; the sharp layer matches it.
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * The processor's memory, in MB (128 to 10240). Lambda's CPU share grows with it.
   *
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * The processor's timeout, at most 15 minutes.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;

  /**
   * Concurrent executions reserved for the processor, which also caps it.
   *
   * @default - no reservation: the account's unreserved concurrency
   */
  readonly reservedConcurrency?: number;

  /**
   * How many times Lambda retries a failed asynchronous invocation (0 to 2) before the event
   * goes to the failure queue.
   *
   * @default 2
   */
  readonly retryAttempts?: number;

  /**
   * How long Lambda keeps trying an event (1 minute to 6 hours) before it goes to the failure queue.
   *
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;

  /**
   * How long the processor's logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * A KMS key to encrypt the buckets this construct creates; the processor is granted
   * `kms:Decrypt` (input) and `kms:GenerateDataKey` (output) on it. Buckets you bring keep their
   * own encryption (their `encryptionKey`, if any, is granted the same way).
   *
   * @default - S3-managed encryption (SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How uploads reach the processor.
   *
   * @default TriggerMode.S3_NOTIFICATION
   */
  readonly trigger?: TriggerMode;

  /**
   * In queue mode, the most messages one invocation gets (1 to 10000; above 10 needs
   * `queueMaxBatchingWindow`).
   *
   * @default 10
   */
  readonly queueBatchSize?: number;

  /**
   * In queue mode, how long Lambda may wait to fill a batch (at most 5 minutes).
   *
   * @default - no wait
   */
  readonly queueMaxBatchingWindow?: Duration;

  /**
   * What happens to the buckets this construct creates when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Send an EventBridge event after each upload: `ImageProcessed` (input key, eTag, outputs and
   * their sizes) or `ImageRejected` (the reason), with source `image-preprocessing-pipeline`.
   * See `onImageProcessed` and `onImageRejected`.
   *
   * @default true
   */
  readonly emitEvents?: boolean;

  /**
   * The bus the events go to.
   *
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Rejected uploads in 5 minutes that raise the rejected-images alarm.
   *
   * @default 1
   */
  readonly rejectedImagesAlarmThreshold?: number;

  /**
   * An SNS topic notified when an alarm fires (and when it recovers).
   *
   * @default - the alarms notify nobody
   */
  readonly alarmTopic?: sns.ITopic;
}

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

  /** A CloudWatch dashboard of the pipeline: the original system's metrics and the images processed and rejected. */
  public readonly dashboard: cloudwatch.Dashboard;

  /** The JSON document the processor reads from its `PIPELINE_CONFIG` environment variable. */
  public readonly pipelineConfig: string;

  private readonly processorFunction: lambda.Function;
  private readonly inputPrefix: string;
  private readonly outputPrefix: string;

  constructor(scope: Construct, id: string, props: ImagePreprocessingPipelineProps = {}) {
    super(scope, id);
    validateProps(props);

    const inputPrefix = props.inputPrefix ?? '';
    const outputPrefix = props.outputPrefix ?? '';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const memorySize = props.memorySize ?? DEFAULTS.memorySize;
    const queueMode = props.trigger === TriggerMode.QUEUE;
    const retryAttempts = props.retryAttempts ?? 2;
    const timeout = props.timeout ?? DEFAULTS.timeout;

    this.inputBucket = props.inputBucket ?? this.newBucket('InputBucket', removalPolicy, props.encryptionKey);
    this.outputBucket = props.outputBucket ?? this.newBucket('OutputBucket', removalPolicy, props.encryptionKey);
    this.inputPrefix = inputPrefix;
    this.outputPrefix = outputPrefix;

    if (props.emitEvents ?? true) {
      this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultEventBus', 'default');
    }

    this.pipelineConfig = Stack.of(this).toJsonString({
      version: 1,
      inputBucket: this.inputBucket.bucketName,
      outputBucket: this.outputBucket.bucketName,
      inputPrefix,
      outputPrefix,
      variants: (props.variants ?? [DEFAULTS.variant]).map(variantDocument),
      acceptedFormats: props.acceptedFormats ?? DEFAULTS.acceptedFormats,
      maxInputPixels: props.maxInputPixels ?? DEFAULTS.maxInputPixels,
      maxInputBytes: (props.maxInputBytes ?? DEFAULTS.maxInputBytes).toBytes(),
      keepMetadata: props.keepMetadata ?? false,
      concurrency: 1,
      events: this.eventBus ? { eventBusName: this.eventBus.eventBusName, source: EVENT_SOURCE } : undefined,
    });

    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.sharpLayer = new SharpLayer(this, 'SharpLayer', { architecture });

    const logGroup = new logs.LogGroup(this, 'ProcessorLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    // Our own role: only what the processor uses, no managed policy.
    const role = new iam.Role(this, 'ProcessorRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reads uploads under the input prefix, writes under the output prefix',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'ReadUploads',
      actions: ['s3:GetObject'],
      resources: [this.inputBucket.arnForObjects(`${inputPrefix}*`)],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      // Without it, a deleted object reads as AccessDenied rather than NoSuchKey.
      sid: 'ListUploads',
      actions: ['s3:ListBucket'],
      resources: [this.inputBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${inputPrefix}*`] } },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteOutputs',
      actions: ['s3:PutObject'],
      resources: [this.outputBucket.arnForObjects(`${outputPrefix}*`)],
    }));
    if (this.eventBus) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        sid: 'SendImageEvents',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
      }));
    }
    this.inputBucket.encryptionKey?.grant(role, 'kms:Decrypt');
    this.outputBucket.encryptionKey?.grant(role, 'kms:GenerateDataKey');

    this.processorFunction = new ProcessImageFunction(this, 'Processor', {
      description: 'Makes the configured image variants of each upload',
      runtime: lambda.Runtime.NODEJS_24_X,
      role,
      architecture,
      memorySize,
      timeout,
      layers: [this.sharpLayer],
      environment: { PIPELINE_CONFIG: this.pipelineConfig },
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      ...(queueMode ? {} : {
        retryAttempts,
        maxEventAge: props.maxEventAge ?? Duration.hours(6),
        onFailure: new destinations.SqsDestination(this.failureQueue),
      }),
    });
    this.processor = this.processorFunction;

    let destination: s3.IBucketNotificationDestination;
    if (queueMode) {
      const uploadQueue = new sqs.Queue(this, 'UploadQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // Lambda's advice: at least six times the function timeout, so retries do not overlap.
        visibilityTimeout: Duration.seconds(Math.min(43200, timeout.toSeconds() * 6)),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: this.failureQueue, maxReceiveCount: retryAttempts + 1 },
      });
      this.uploadQueue = uploadQueue;
      this.processorFunction.addEventSource(new lambdaEventSources.SqsEventSource(uploadQueue, {
        batchSize: props.queueBatchSize ?? 10,
        maxBatchingWindow: props.queueMaxBatchingWindow,
        reportBatchItemFailures: true,
      }));
      destination = new s3n.SqsDestination(uploadQueue);
    } else {
      destination = new s3n.LambdaDestination(this.processorFunction);
    }
    const suffixes = props.inputSuffixes ?? [];
    if (suffixes.length === 0) {
      this.inputBucket.addEventNotification(s3.EventType.OBJECT_CREATED, destination,
        ...(inputPrefix ? [{ prefix: inputPrefix }] : []));
    }
    for (const suffix of suffixes) {
      this.inputBucket.addEventNotification(s3.EventType.OBJECT_CREATED, destination,
        inputPrefix ? { prefix: inputPrefix, suffix } : { suffix });
    }

    this.alarms = this.createAlarms(timeout, queueMode, props);
    this.dashboard = this.createDashboard(queueMode);
    this.acknowledgeFindings(role);
  }

  /**
   * A rule on the pipeline's event bus that matches this pipeline's `ImageProcessed` events, whose
   * detail is `{ pipeline, bucket, key, eTag, size, outputBucket, outputs: [{ variant, key, bytes,
   * width, height, format }], ms }`. Give a target in `options` or add one to the rule.
   */
  public onImageProcessed(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onImageEvent(id, 'ImageProcessed', options);
  }

  /**
   * A rule on the pipeline's event bus that matches this pipeline's `ImageRejected` events, whose
   * detail is `{ pipeline, bucket, key, eTag, size, reason, message, outputBucket, failureRecord }`.
   */
  public onImageRejected(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onImageEvent(id, 'ImageRejected', options);
  }

  private onImageEvent(id: string, detailType: string, options: events.OnEventOptions): events.Rule {
    if (!this.eventBus) {
      throw new Error(`on${detailType}: this pipeline sends no events (emitEvents is false)`);
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
    return this.pipelineMetric('ImagesProcessed', props);
  }

  /** Uploads rejected with a failure record (an embedded metric the processor logs). */
  public metricImagesRejected(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.pipelineMetric('ImagesRejected', props);
  }

  /** Events waiting in the failure queue. */
  public metricFailureQueueDepth(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.failureQueue.metricApproximateNumberOfMessagesVisible(props);
  }

  private pipelineMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { Pipeline: this.processorFunction.functionName },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  private newBucket(id: string, removalPolicy: RemovalPolicy, encryptionKey?: kms.IKey): s3.Bucket {
    return new s3.Bucket(this, id, {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey,
      bucketKeyEnabled: encryptionKey ? true : undefined,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    });
  }

  private createAlarms(timeout: Duration, queueMode: boolean, props: ImagePreprocessingPipelineProps): cloudwatch.IAlarm[] {
    const period = Duration.minutes(5);
    const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const max = { period, statistic: cloudwatch.Stats.MAXIMUM };
    const alarms = [
      alarm('ErrorsAlarm', 'The image processor failed invocations (transient errors are retried; see its logs).',
        this.metricErrors(sum), 1),
      alarm('ThrottlesAlarm', 'The image processor was throttled: raise its concurrency or the account limit.',
        this.metricThrottles(sum), 1),
      alarm('DurationAlarm', 'An image took more than 80% of the processor timeout: raise memorySize or timeout.',
        this.metricDuration(max), Math.floor(timeout.toMilliseconds() * 0.8)),
      alarm('FailureQueueAlarm', 'Events failed past every retry and wait in the failure queue.',
        this.metricFailureQueueDepth(max), 1),
      alarm('RecursiveInvocationsAlarm', 'Lambda stopped a recursive loop of the image processor: check that outputs do not trigger it.',
        this.processorMetric('RecursiveInvocationsDropped', sum), 1),
      alarm('RejectedImagesAlarm', 'Uploads were rejected as not processable images; their failure records are under _failed/ in the output bucket.',
        this.metricImagesRejected(sum), props.rejectedImagesAlarmThreshold ?? 1),
    ];
    if (queueMode) {
      alarms.push(alarm('UploadQueueAgeAlarm', 'Uploads have waited more than 15 minutes in the upload queue: the processor is falling behind.',
        this.uploadQueue!.metricApproximateAgeOfOldestMessage(max), 15 * 60));
    } else {
      alarms.push(
        alarm('AsyncEventsDroppedAlarm', 'Lambda dropped upload events (too old or throttled too long) before the processor ran them.',
          this.metricAsyncEventsDropped(sum), 1),
        alarm('AsyncEventAgeAlarm', 'Upload events waited more than 15 minutes before the processor ran them.',
          this.metricAsyncEventAge(max), 15 * 60 * 1000),
      );
    }
    if (props.alarmTopic) {
      const action = new cw_actions.SnsAction(props.alarmTopic);
      for (const a of alarms) {
        a.addAlarmAction(action);
        a.addOkAction(action);
      }
    }
    return alarms;
  }

  private createDashboard(queueMode: boolean): cloudwatch.Dashboard {
    const period = Duration.minutes(5);
    const sum = { period, statistic: cloudwatch.Stats.SUM };
    const max = { period, statistic: cloudwatch.Stats.MAXIMUM };
    const invocations = this.metricInvocations(sum);
    const errors = this.metricErrors(sum);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Invocations', left: [invocations], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Errors and success rate',
        left: [errors],
        right: [new cloudwatch.MathExpression({
          expression: 'IF(invocations > 0, 100 - 100 * errors / invocations, 100)',
          usingMetrics: { invocations, errors },
          label: 'success rate (%)',
          period,
        })],
        rightYAxis: { min: 0, max: 100 },
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: 'Throttles', left: [this.metricThrottles(sum)], width: 8 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Duration',
        left: [
          this.metricDuration({ period, statistic: cloudwatch.Stats.p(50), label: 'p50' }),
          this.metricDuration({ period, statistic: cloudwatch.Stats.p(99), label: 'p99' }),
          this.metricDuration({ ...max, label: 'max' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: 'Concurrent executions', left: [this.metricConcurrentExecutions(max)], width: 8 }),
      queueMode
        ? new cloudwatch.GraphWidget({ title: 'Upload queue: oldest message (s)', left: [this.uploadQueue!.metricApproximateAgeOfOldestMessage(max)], width: 8 })
        : new cloudwatch.GraphWidget({
          title: 'Async events: age (ms) and dropped',
          left: [this.metricAsyncEventAge(max)],
          right: [this.metricAsyncEventsDropped(sum)],
          width: 8,
        }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Images processed', left: [this.metricImagesProcessed(sum)], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Images rejected', left: [this.metricImagesRejected(sum)], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Failure queue depth', left: [this.metricFailureQueueDepth(max)], width: 8 }),
    );
    return dashboard;
  }

  private processorMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.processorFunction.metric(metricName, props);
  }

  /** AwsSolutions findings that are by design, each with its reason. */
  private acknowledgeFindings(role: iam.IRole): void {
    for (const id of ['InputBucket', 'OutputBucket']) {
      const bucket = this.node.tryFindChild(id);
      if (bucket) {
        Validations.of(bucket).acknowledge({
          id: 'AwsSolutions-S1',
          reason: 'Server access logging needs a log bucket whose retention is the owner\'s policy; pass your own inputBucket/outputBucket with logging to have it.',
        });
      }
    }
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the failure destination of the processor; a second dead-letter queue behind it would only move the same messages again.',
    });
    const prefixReason = 'Object-level S3 access is scoped to the configured key prefix, which needs a trailing wildcard in the object ARN. No action is a wildcard.';
    acknowledgeWildcardResource(role, this.inputBucket.arnForObjects(`${this.inputPrefix}*`), prefixReason);
    acknowledgeWildcardResource(role, this.outputBucket.arnForObjects(`${this.outputPrefix}*`), prefixReason);
    // aws-cdk-lib's one-per-stack function that sets bucket notifications at deploy time
    const notificationsHandler = Stack.of(this).node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER_ID);
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'aws-cdk-lib\'s bucket-notifications handler uses AWSLambdaBasicExecutionRole for its logs only; it is a deploy-time custom resource whose role this library does not own.',
      });
    }
  }
}

/** The `source` of the pipeline's EventBridge events. */
const EVENT_SOURCE = 'image-preprocessing-pipeline';

/** The CloudWatch namespace of the metrics the processor logs (embedded metric format). */
const METRICS_NAMESPACE = 'ImagePreprocessingPipeline';

/** The construct id aws-cdk-lib gives its bucket-notifications handler (aws-s3/lib/notifications-resource). */
const BUCKET_NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

/** Every default in one place (the README lists them). */
const DEFAULTS = {
  memorySize: 512,
  timeout: Duration.seconds(30),
  maxInputPixels: 40_000_000,
  maxInputBytes: Size.mebibytes(50),
  acceptedFormats: [InputFormat.JPEG, InputFormat.PNG, InputFormat.WEBP, InputFormat.GIF, InputFormat.TIFF, InputFormat.AVIF],
  variant: {
    name: 'grayscale-256',
    width: 256,
    height: 256,
    fit: ImageFit.FILL,
    grayscale: true,
    format: OutputFormat.JPEG,
    quality: 80,
  } as ImageVariant,
};

function variantDocument(v: ImageVariant): Record<string, unknown> {
  return {
    name: v.name,
    width: v.width,
    height: v.height,
    fit: v.fit ?? ImageFit.COVER,
    grayscale: v.grayscale ?? false,
    format: v.format ?? OutputFormat.JPEG,
    quality: v.quality,
    withoutEnlargement: v.withoutEnlargement ?? false,
    background: v.background ?? '#ffffff',
  };
}

const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COLOUR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const MAX_DIMENSION = 16383;

/** Checks every prop before anything is created; each message names the prop and the value. */
function validateProps(props: ImagePreprocessingPipelineProps): void {
  const errors: string[] = [];
  const intIn = (name: string, v: number | undefined, min: number, max: number) => {
    if (v === undefined || Token.isUnresolved(v)) return;
    if (!Number.isInteger(v) || v < min || v > max) {
      errors.push(`${name} must be an integer from ${min} to ${max}, got ${v}`);
    }
  };

  for (const [name, p] of [['inputPrefix', props.inputPrefix], ['outputPrefix', props.outputPrefix]] as const) {
    if (p !== undefined && !Token.isUnresolved(p) && p.startsWith('/')) {
      errors.push(`${name} must not start with "/" (S3 keys have no leading slash), got "${p}"`);
    }
  }
  for (const s of props.inputSuffixes ?? []) {
    if (!Token.isUnresolved(s) && s.length === 0) errors.push('inputSuffixes must not contain an empty string');
  }
  if (sameBucket(props.inputBucket, props.outputBucket)) {
    const a = props.inputPrefix ?? '';
    const b = props.outputPrefix ?? '';
    if (a === '' || b === '' || a.startsWith(b) || b.startsWith(a)) {
      errors.push(`inputBucket and outputBucket are the same bucket, so inputPrefix ("${a}") and outputPrefix ("${b}") `
        + 'must both be set and neither may start with the other: otherwise every output would trigger the processor again');
    }
  }

  const variants = props.variants;
  if (variants !== undefined) {
    if (variants.length === 0 || variants.length > 10) {
      errors.push(`variants must hold 1 to 10 variants, got ${variants.length}`);
    }
    const names = new Set<string>();
    variants.forEach((v, i) => {
      const where = `variants[${i}]`;
      if (!VARIANT_NAME.test(v.name)) {
        errors.push(`${where}.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got "${v.name}"`);
      } else if (names.has(v.name)) {
        errors.push(`${where}.name "${v.name}" is used by another variant; names must be unique`);
      }
      names.add(v.name);
      intIn(`${where}.width`, v.width, 1, MAX_DIMENSION);
      intIn(`${where}.height`, v.height, 1, MAX_DIMENSION);
      intIn(`${where}.quality`, v.quality, 1, 100);
      if (v.background !== undefined && !COLOUR.test(v.background)) {
        errors.push(`${where}.background must be a colour like "#ffffff", got "${v.background}"`);
      }
      if (v.fit !== undefined && !Object.values(ImageFit).includes(v.fit)) {
        errors.push(`${where}.fit must be one of ${Object.values(ImageFit).join(', ')}, got "${v.fit}"`);
      }
      if (v.format !== undefined && !Object.values(OutputFormat).includes(v.format)) {
        errors.push(`${where}.format must be one of ${Object.values(OutputFormat).join(', ')}, got "${v.format}"`);
      }
    });
  }

  if (props.acceptedFormats !== undefined) {
    if (props.acceptedFormats.length === 0) errors.push('acceptedFormats must name at least one format');
    for (const f of props.acceptedFormats) {
      if (!Object.values(InputFormat).includes(f)) {
        errors.push(`acceptedFormats must hold only ${Object.values(InputFormat).join(', ')}, got "${f}"`);
      }
    }
  }
  intIn('maxInputPixels', props.maxInputPixels, 1, Number.MAX_SAFE_INTEGER);
  if (props.maxInputBytes !== undefined && props.maxInputBytes.toBytes() < 1) {
    errors.push('maxInputBytes must be at least 1 byte');
  }

  const arch = props.architecture;
  if (arch !== undefined && arch.name !== lambda.Architecture.ARM_64.name && arch.name !== lambda.Architecture.X86_64.name) {
    errors.push(`architecture must be ARM_64 or X86_64, got ${arch.name}`);
  }
  intIn('memorySize', props.memorySize, 128, 10240);
  const timeout = props.timeout?.toSeconds();
  if (timeout !== undefined && !Token.isUnresolved(timeout) && (timeout < 1 || timeout > 900)) {
    errors.push(`timeout must be from 1 second to 15 minutes, got ${props.timeout!.toHumanString()}`);
  }
  intIn('reservedConcurrency', props.reservedConcurrency, 1, 100_000);
  intIn('rejectedImagesAlarmThreshold', props.rejectedImagesAlarmThreshold, 1, 1_000_000);
  if (props.trigger !== undefined && !Object.values(TriggerMode).includes(props.trigger)) {
    errors.push(`trigger must be one of ${Object.values(TriggerMode).join(', ')}, got "${props.trigger}"`);
  }
  const queueOnly = (name: string, v: unknown) => {
    if (v !== undefined && props.trigger !== TriggerMode.QUEUE) errors.push(`${name} applies only with trigger TriggerMode.QUEUE`);
  };
  queueOnly('queueBatchSize', props.queueBatchSize);
  queueOnly('queueMaxBatchingWindow', props.queueMaxBatchingWindow);
  intIn('queueBatchSize', props.queueBatchSize, 1, 10_000);
  const window = props.queueMaxBatchingWindow?.toSeconds();
  if (window !== undefined && !Token.isUnresolved(window) && window > 300) {
    errors.push(`queueMaxBatchingWindow must be at most 5 minutes, got ${props.queueMaxBatchingWindow!.toHumanString()}`);
  }
  if ((props.queueBatchSize ?? 0) > 10 && !window) {
    errors.push(`queueBatchSize above 10 needs a queueMaxBatchingWindow, got ${props.queueBatchSize} with none`);
  }
  if (props.maxEventAge !== undefined && props.trigger === TriggerMode.QUEUE) {
    errors.push('maxEventAge applies to asynchronous invocations; in queue mode messages are kept by the queue');
  }
  if (props.encryptionKey !== undefined && props.inputBucket !== undefined && props.outputBucket !== undefined) {
    errors.push('encryptionKey encrypts the buckets this construct creates, and both buckets were given: set encryption on your own buckets instead');
  }
  intIn('retryAttempts', props.retryAttempts, 0, 2);
  const age = props.maxEventAge?.toSeconds();
  if (age !== undefined && !Token.isUnresolved(age) && (age < 60 || age > 21600)) {
    errors.push(`maxEventAge must be from 1 minute to 6 hours, got ${props.maxEventAge!.toHumanString()}`);
  }

  if (errors.length > 0) {
    throw new Error(`Invalid ImagePreprocessingPipeline props:\n  - ${errors.join('\n  - ')}`);
  }
}

function sameBucket(a?: s3.IBucket, b?: s3.IBucket): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return !Token.isUnresolved(a.bucketName) && a.bucketName === b.bucketName;
}
