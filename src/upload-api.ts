import { Annotations, Duration, Size } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONFIG_ENV_VAR } from './contract';
import type { ImagePreprocessingPipeline } from './image-preprocessing-pipeline';
import { acknowledgeWildcardResource } from './private/nag';
import {
  handlerMaxBytes, UPLOAD_API_DEFAULTS, UPLOAD_API_ENV_VAR, UPLOAD_FOLDER, type UploadApiConfig,
} from './private/upload-api-contract';
import { UploadApiFunction } from './private/upload-api-function';
import { pipelineForApi, type PipelineForApi } from './private/upload-api-pipeline';
import { uploadApiProblems } from './private/upload-api-validation';

/**
 * Options of an upload API: an HTTP API in front of a pipeline that hands out presigned uploads
 * and answers the state of each. Every one is optional.
 */
export interface UploadApiOptions {
  /**
   * Who may call the API: a JWT (for example Cognito user pool) or Lambda authorizer of your own,
   * from `aws-cdk-lib/aws-apigatewayv2-authorizers`.
   *
   * @default - IAM: requests must be signed (SigV4) by a principal granted `grantInvoke`
   */
  readonly authorizer?: apigwv2.IHttpRouteAuthorizer;

  /**
   * Take requests with no authorization at all: anyone who has the URL may upload images (within
   * the size, type and throttling limits). Synth warns, and cdk-nag reports the routes
   * (AwsSolutions-APIG4) for you to acknowledge.
   *
   * @default false
   */
  readonly allowUnauthenticated?: boolean;

  /**
   * Origins of the web pages that call the API and upload from a browser, such as
   * `https://app.example.com`: the API's CORS, and a CORS rule on the input bucket (PUT with
   * Content-Type and If-None-Match) when the pipeline created it; a bucket you brought needs that
   * rule of yours.
   *
   * @default - none: no CORS, for callers that are not browsers
   */
  readonly allowedOrigins?: string[];

  /**
   * How long a presigned upload URL is valid (1 minute to 1 hour).
   *
   * @default Duration.minutes(5)
   */
  readonly uploadUrlExpiry?: Duration;

  /**
   * How long the presigned download URL of each output is valid (1 minute to 1 hour).
   *
   * @default Duration.minutes(15)
   */
  readonly downloadUrlExpiry?: Duration;

  /**
   * The largest upload the API signs; at most what the processor takes (the pipeline's
   * `maxInputBytes`, and a quarter of its `memorySize` less 100 MiB, divided among the
   * `concurrency` records it processes at once).
   *
   * @default - what the processor takes: 50 MiB with the pipeline's defaults
   */
  readonly maxUploadSize?: Size;

  /**
   * Steady requests per second the API takes, all routes and callers together (1 to 10000).
   *
   * @default 10
   */
  readonly throttleRateLimit?: number;

  /**
   * Requests the API takes at once above the steady rate (1 to 5000).
   *
   * @default 20
   */
  readonly throttleBurstLimit?: number;

  /**
   * The p99 latency over 5 minutes that raises the latency alarm (at most 30 seconds).
   *
   * @default Duration.seconds(3)
   */
  readonly latencyAlarmThreshold?: Duration;

  /**
   * 5xx answers in 5 minutes that raise the server-errors alarm.
   *
   * @default 1
   */
  readonly serverErrorsAlarmThreshold?: number;
}

/**
 * Properties of an `UploadApi`.
 */
export interface UploadApiProps extends UploadApiOptions {
  /** The pipeline whose input bucket takes the uploads and whose output bucket holds their results. */
  readonly pipeline: ImagePreprocessingPipeline;
}

/**
 * An HTTP API (API Gateway) in front of a pipeline, for end users without AWS credentials or an S3
 * client: `POST /uploads` answers a presigned PUT for a new key under the input prefix, and
 * `GET /uploads/{id}` the upload's state (pending; processed, with each output's key, format,
 * dimensions and a presigned GET; or rejected, with its reason).
 *
 * Two functions serve it, each with only what its route needs: the upload function may sign puts
 * under `<inputPrefix>uploads/`, the status function may read the output bucket. Authorization is
 * IAM unless an authorizer is given; the stage is throttled and logs every request; alarms watch
 * 5xx answers and latency.
 *
 * Usually made with the pipeline's `uploadApi` prop.
 */
export class UploadApi extends Construct {
  /** The HTTP API. */
  public readonly httpApi: apigwv2.HttpApi;

  /** The stage that serves the API: throttled, with access logs. */
  public readonly stage: apigwv2.HttpStage;

  /** The API's base URL; the routes are `POST <url>uploads` and `GET <url>uploads/{id}`. */
  public readonly url: string;

  /** Signs the uploads (`POST /uploads`). */
  public readonly uploadFunction: lambda.IFunction;

  /** Reads the uploads' states (`GET /uploads/{id}`). */
  public readonly statusFunction: lambda.IFunction;

  /** The API's access logs. */
  public readonly accessLogs: logs.ILogGroup;

  /** The alarms: 5xx answers, and p99 latency. */
  public readonly alarms: cloudwatch.IAlarm[];

  constructor(scope: Construct, id: string, props: UploadApiProps) {
    super(scope, id);
    const p = pipelineForApi(props.pipeline);
    const problems = uploadApiProblems(props, p, '');
    if (problems.length > 0) {
      throw new Error(`Invalid UploadApi props at ${this.node.path}:\n  - ${problems.join('\n  - ')}`);
    }

    const apiConfig: UploadApiConfig = {
      maxUploadBytes: props.maxUploadSize?.toBytes() ?? handlerMaxBytes(p.maxInputBytes, p.memorySizeMb, p.concurrency),
      uploadUrlExpirySeconds: props.uploadUrlExpiry?.toSeconds() ?? UPLOAD_API_DEFAULTS.uploadUrlExpirySeconds,
      downloadUrlExpirySeconds: props.downloadUrlExpiry?.toSeconds() ?? UPLOAD_API_DEFAULTS.downloadUrlExpirySeconds,
    };
    const uploadRole = this.role('UploadFunctionRole', 'Signs uploads under the input bucket\'s upload folder', [
      new iam.PolicyStatement({
        sid: 'SignUploads',
        actions: ['s3:PutObject'],
        resources: [p.inputBucket.arnForObjects(`${p.inputPrefix}${UPLOAD_FOLDER}*`)],
      }),
    ]);
    p.inputBucket.encryptionKey?.grant(uploadRole.role, 'kms:GenerateDataKey');
    const statusRole = this.role('StatusFunctionRole', 'Reads the results of uploads in the output bucket', [
      new iam.PolicyStatement({
        sid: 'ReadResults',
        actions: ['s3:GetObject'],
        resources: [p.outputBucket.arnForObjects(`${p.outputPrefix}*`)],
      }),
      new iam.PolicyStatement({
        // Without it, a result not written yet reads as AccessDenied rather than NoSuchKey.
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [p.outputBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${p.outputPrefix}*`] } },
      }),
    ]);
    p.outputBucket.encryptionKey?.grant(statusRole.role, 'kms:Decrypt');

    const environment = { [CONFIG_ENV_VAR]: p.pipelineConfig, [UPLOAD_API_ENV_VAR]: JSON.stringify(apiConfig) };
    const fn = (fid: string, description: string, r: { role: iam.Role; logGroup: logs.LogGroup }) => new UploadApiFunction(this, fid, {
      description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(10),
      role: r.role,
      logGroup: r.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment,
    });
    this.uploadFunction = fn('UploadFunction', 'Upload API: presigned uploads (POST /uploads)', uploadRole);
    this.statusFunction = fn('StatusFunction', 'Upload API: upload states (GET /uploads/{id})', statusRole);

    const origins = props.allowedOrigins ?? [];
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: `Uploads to ${props.pipeline.node.path} and their results`,
      createDefaultStage: false,
      corsPreflight: origins.length === 0 ? undefined : {
        allowOrigins: origins,
        allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
        allowHeaders: ['content-type', 'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        maxAge: Duration.hours(1),
      },
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttleRateLimit ?? UPLOAD_API_DEFAULTS.throttleRateLimit,
        burstLimit: props.throttleBurstLimit ?? UPLOAD_API_DEFAULTS.throttleBurstLimit,
      },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: apigateway.AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId',
          ip: '$context.identity.sourceIp',
          requestTime: '$context.requestTime',
          routeKey: '$context.routeKey',
          status: '$context.status',
          responseLength: '$context.responseLength',
          latencyMs: '$context.responseLatency',
          integrationError: '$context.integrationErrorMessage',
          authorizerError: '$context.authorizer.error',
        })),
      },
    });
    this.url = this.stage.url;

    const authorizer = props.authorizer
      ?? (props.allowUnauthenticated ? new apigwv2.HttpNoneAuthorizer() : new authorizers.HttpIamAuthorizer());
    if (props.allowUnauthenticated) {
      Annotations.of(this).addWarningV2('image-preprocessing-pipeline:unauthenticated-upload-api',
        `The upload API at ${this.node.path} takes requests with no authorization (allowUnauthenticated): anyone who has its URL may upload `
        + 'images, within its size, type and throttling limits. Give it an authorizer, or leave both out for IAM.');
    }
    this.httpApi.addRoutes({
      path: '/uploads',
      methods: [apigwv2.HttpMethod.POST],
      integration: new integrations.HttpLambdaIntegration('UploadIntegration', this.uploadFunction),
      authorizer,
    });
    this.httpApi.addRoutes({
      path: '/uploads/{id}',
      methods: [apigwv2.HttpMethod.GET],
      integration: new integrations.HttpLambdaIntegration('StatusIntegration', this.statusFunction),
      authorizer,
    });

    if (origins.length > 0) this.allowBrowserUploads(p, origins);
    this.alarms = this.createAlarms(props, p);

    const prefixReason = 'Object-level S3 access is scoped to the key prefix the function serves, which needs a trailing wildcard in the object ARN. No action is a wildcard.';
    acknowledgeWildcardResource(uploadRole.role, p.inputBucket.arnForObjects(`${p.inputPrefix}${UPLOAD_FOLDER}*`), prefixReason);
    acknowledgeWildcardResource(statusRole.role, p.outputBucket.arnForObjects(`${p.outputPrefix}*`), prefixReason);
  }

  /**
   * Lets a principal call the API's routes (with IAM authorization, the default).
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [
        this.httpApi.arnForExecuteApi('POST', '/uploads', this.stage.stageName),
        this.httpApi.arnForExecuteApi('GET', '/uploads/*', this.stage.stageName),
      ],
    });
  }

  /** 5xx answers of the API. */
  public metricServerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.httpApi.metricServerError({ statistic: cloudwatch.Stats.SUM, ...props });
  }

  /** 4xx answers of the API (refused types and sizes, unauthorized and throttled requests). */
  public metricClientErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.httpApi.metricClientError({ statistic: cloudwatch.Stats.SUM, ...props });
  }

  /** The API's latency, from request to answer, in milliseconds. */
  public metricLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.httpApi.metricLatency({ statistic: cloudwatch.Stats.p(99), ...props });
  }

  private role(id: string, description: string, statements: iam.PolicyStatement[]): { role: iam.Role; logGroup: logs.LogGroup } {
    const logGroup = new logs.LogGroup(this, `${id.replace(/Role$/, '')}Logs`, { retention: logs.RetentionDays.ONE_MONTH });
    const role = new iam.Role(this, id, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }));
    for (const s of statements) role.addToPrincipalPolicy(s);
    return { role, logGroup };
  }

  /** Browsers PUT to the presigned URLs: the input bucket's CORS, when the pipeline created the bucket. */
  private allowBrowserUploads(p: PipelineForApi, origins: string[]): void {
    if (p.inputBucketCreated && p.inputBucket instanceof s3.Bucket) {
      p.inputBucket.addCorsRule({
        allowedMethods: [s3.HttpMethods.PUT],
        allowedOrigins: origins,
        allowedHeaders: ['content-type', 'if-none-match'],
        exposedHeaders: ['etag'],
        maxAge: 3600,
      });
    } else {
      Annotations.of(this).addWarningV2('image-preprocessing-pipeline:upload-api-bucket-cors',
        `allowedOrigins: the input bucket was brought, so its CORS rules are yours: allow PUT from ${origins.join(', ')} with the `
        + 'headers content-type and if-none-match, or browsers cannot upload to the presigned URLs.');
    }
  }

  private createAlarms(props: UploadApiOptions, p: PipelineForApi): cloudwatch.IAlarm[] {
    const period = Duration.minutes(5);
    const alarms = [
      new cloudwatch.Alarm(this, 'ServerErrorsAlarm', {
        alarmDescription: 'The upload API answered 5xx: see the upload and status functions\' logs and the access logs.',
        metric: this.metricServerErrors({ period }),
        threshold: props.serverErrorsAlarmThreshold ?? UPLOAD_API_DEFAULTS.serverErrorsAlarmThreshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'LatencyAlarm', {
        alarmDescription: 'The upload API\'s p99 latency is above its threshold.',
        metric: this.metricLatency({ period }),
        threshold: props.latencyAlarmThreshold?.toMilliseconds() ?? UPLOAD_API_DEFAULTS.latencyAlarmThresholdMs,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    if (p.alarmTopic) {
      const action = new cw_actions.SnsAction(p.alarmTopic);
      for (const a of alarms) {
        a.addAlarmAction(action);
        a.addOkAction(action);
      }
    }
    return alarms;
  }
}
