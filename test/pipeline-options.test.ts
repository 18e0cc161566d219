/**
 * The pipeline's optional behaviours: queue mode, KMS, monitoring (alarms, dashboard, metrics).
 */
import { App, CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, TriggerMode } from '../src';

function synth(props: ImagePreprocessingPipelineProps = {}, extra?: (stack: Stack) => Partial<ImagePreprocessingPipelineProps>) {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', { ...props, ...extra?.(stack) });
  return { stack, pipeline, template: Template.fromStack(stack) };
}

function logicalId(stack: Stack, c: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(c.node.defaultChild as never);
}

/** Every action of every statement of the processor role's policies. */
function processorActions(template: Template): string[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^ImagesProcessorRole') }] },
  });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => s.Action));
}

describe('queue mode', () => {
  test('S3 notifications go to an upload queue that the function reads with batch item failures', () => {
    // GIVEN / WHEN
    const { stack, pipeline, template } = synth({ trigger: TriggerMode.QUEUE, timeout: Duration.seconds(40), queueBatchSize: 5 });

    // THEN: the queue, redriven to the failure queue after 5 receives (Lambda's guidance for SQS
    // event sources), visible again after six times the timeout
    const uploadQueue = logicalId(stack, pipeline.uploadQueue as never);
    const failureQueue = logicalId(stack, pipeline.failureQueue as never);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 240,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [failureQueue, 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [uploadQueue, 'Arn'] },
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      // no concurrency reserved, none capped
      ScalingConfig: Match.absent(),
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Events: ['s3:ObjectCreated:*'], QueueArn: { 'Fn::GetAtt': [uploadQueue, 'Arn'] } })],
      },
    });
    // no direct invocation: no async config, no S3 permission to invoke
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
    template.resourceCountIs('AWS::Lambda::Permission', 0);
    // S3 may send to the queue, scoped to the input bucket
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: uploadQueue }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Principal: { Service: 's3.amazonaws.com' },
          Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, pipeline.inputBucket as never), 'Arn'] } } },
        })]),
      },
    });
  });

  test('the function may consume the upload queue with named actions only', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE });
    const actions = processorActions(template);
    expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']));
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  test('watches the age of the oldest upload instead of async event metrics', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 900 });
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.MetricName))
      .not.toContain('AsyncEventsDropped');
  });

  test.each([
    [{ queueBatchSize: 5 }, /queueBatchSize applies only with trigger TriggerMode.QUEUE/],
    [{ trigger: TriggerMode.QUEUE, queueBatchSize: 0 }, /queueBatchSize must be an integer from 1 to 10000, got 0/],
    [{ trigger: TriggerMode.QUEUE, queueBatchSize: 50 }, /queueBatchSize above 10 needs a queueMaxBatchingWindow/],
    [{ trigger: TriggerMode.QUEUE, queueMaxBatchingWindow: Duration.minutes(6) }, /queueMaxBatchingWindow must be at most 5 minutes/],
    [{ trigger: TriggerMode.QUEUE, maxEventAge: Duration.hours(1) }, /maxEventAge applies to asynchronous invocations/],
    [{ trigger: 'sqs' as TriggerMode }, /trigger must be one of s3-notification, queue, got "sqs"/],
  ])('fails when %j', (props, message) => {
    const stack = new Stack(new App(), 'Test');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', props)).toThrow(message);
    // validated before anything is made
    expect(stack.node.findAll().filter(CfnResource.isCfnResource).length).toBe(0);
  });

  test('a batch of more than 10 is allowed with a batching window', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, queueBatchSize: 100, queueMaxBatchingWindow: Duration.seconds(20) });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 100, MaximumBatchingWindowInSeconds: 20 });
  });

  test('the visibility timeout is six times the function timeout plus the batching window', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, timeout: Duration.seconds(30), queueMaxBatchingWindow: Duration.seconds(20) });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 200, RedrivePolicy: Match.anyValue() });
  });

  test('reservedConcurrency is also the event source\'s maximum concurrency, so no batch is taken that would be throttled', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, reservedConcurrency: 7 });
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 7 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 7 } });
  });

  test('a reservedConcurrency above 1000 caps the event source at its maximum, 1000', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, reservedConcurrency: 2000 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 1000 } });
  });

  test('queueMaxConcurrency caps the event source without reserving concurrency', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, queueMaxConcurrency: 50 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 50 } });
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: Match.absent() });
  });

  test('queueMaxConcurrency below reservedConcurrency wins', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, reservedConcurrency: 20, queueMaxConcurrency: 10 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 10 } });
  });

  test('queueMaxReceiveCount sets the receives before the failure queue', () => {
    const { template } = synth({ trigger: TriggerMode.QUEUE, queueMaxReceiveCount: 12 });
    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 12 }) });
  });

  test.each([
    [{ trigger: TriggerMode.QUEUE, retryAttempts: 0 }, /retryAttempts applies to asynchronous invocations; in queue mode .* queueMaxReceiveCount/],
    [{ trigger: TriggerMode.QUEUE, retryAttempts: 2 }, /retryAttempts applies to asynchronous invocations/],
    [{ trigger: TriggerMode.QUEUE, reservedConcurrency: 1 }, /reservedConcurrency must be at least 2 with trigger TriggerMode.QUEUE, got 1/],
    [{ trigger: TriggerMode.QUEUE, queueMaxConcurrency: 1 }, /queueMaxConcurrency must be an integer from 2 to 1000, got 1/],
    [{ trigger: TriggerMode.QUEUE, queueMaxConcurrency: 1001 }, /queueMaxConcurrency must be an integer from 2 to 1000, got 1001/],
    [{ trigger: TriggerMode.QUEUE, reservedConcurrency: 5, queueMaxConcurrency: 10 }, /queueMaxConcurrency \(10\) must not exceed reservedConcurrency \(5\)/],
    [{ trigger: TriggerMode.QUEUE, queueMaxReceiveCount: 4 }, /queueMaxReceiveCount must be an integer from 5 to 1000, got 4/],
    [{ trigger: TriggerMode.QUEUE, queueMaxReceiveCount: 1001 }, /queueMaxReceiveCount must be an integer from 5 to 1000, got 1001/],
    [{ queueMaxReceiveCount: 5 }, /queueMaxReceiveCount applies only with trigger TriggerMode.QUEUE/],
    [{ queueMaxConcurrency: 5 }, /queueMaxConcurrency applies only with trigger TriggerMode.QUEUE/],
  ])('refuses what cannot work in queue mode: %j', (props, message) => {
    const stack = new Stack(new App(), 'Test');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', props as ImagePreprocessingPipelineProps)).toThrow(message);
    expect(stack.node.findAll().filter(CfnResource.isCfnResource).length).toBe(0);
  });
});

describe('KMS', () => {
  test('an encryptionKey encrypts the new buckets and the function gets only Decrypt and GenerateDataKey on it', () => {
    // GIVEN
    let key!: kms.Key;
    const { stack, template } = synth({}, (s) => {
      key = new kms.Key(s, 'Key');
      return { encryptionKey: key };
    });

    // THEN
    const keyArn = { 'Fn::GetAtt': [logicalId(stack, key), 'Arn'] };
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(2);
    for (const b of buckets) {
      expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]).toEqual({
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
      });
    }
    const kmsActions = processorActions(template).filter((a) => a.startsWith('kms:'));
    expect(kmsActions.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
  });

  test('fails when an encryptionKey is given with both buckets brought', () => {
    const stack = new Stack(new App(), 'Test');
    const key = new kms.Key(stack, 'Key');
    const bucket = s3.Bucket.fromBucketName(stack, 'B', 'my-images');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', {
      encryptionKey: key, inputBucket: bucket, outputBucket: bucket, inputPrefix: 'in/', outputPrefix: 'out/',
    })).toThrow(/encryptionKey encrypts the buckets this construct creates, and both buckets were given/);
  });
});

describe('monitoring', () => {
  test('alarms on every signal of the design, each notifying the alarm topic', () => {
    // GIVEN
    let topic!: sns.Topic;
    const { stack, template } = synth({}, (s) => {
      topic = new sns.Topic(s, 'Topic');
      return { alarmTopic: topic };
    });

    // THEN
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms.map((a) => `${a.Namespace}/${a.MetricName}`).sort()).toEqual([
      'AWS/Lambda/AsyncEventAge',
      'AWS/Lambda/AsyncEventsDropped',
      'AWS/Lambda/Duration',
      'AWS/Lambda/Errors',
      'AWS/Lambda/RecursiveInvocationsDropped',
      'AWS/Lambda/Throttles',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'ImagePreprocessingPipeline/ImagesRejected',
    ]);
    const topicRef = { Ref: logicalId(stack, topic) };
    for (const a of alarms) {
      expect(a.AlarmActions).toEqual([topicRef]);
      expect(a.OKActions).toEqual([topicRef]);
      expect(a.TreatMissingData).toBe('notBreaching');
    }
  });

  test('the rejected-images alarm watches the metric the handler logs, for this function', () => {
    const { stack, pipeline, template } = synth({ rejectedImagesAlarmThreshold: 25 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ImagePreprocessingPipeline',
      MetricName: 'ImagesRejected',
      Dimensions: [{ Name: 'Pipeline', Value: { Ref: logicalId(stack, pipeline.processor as never) } }],
      Statistic: 'Sum',
      Threshold: 25,
    });
  });

  test('the dashboard shows the original system\'s metrics and the images processed and rejected', () => {
    const { stack, template } = synth();
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(stack.resolve(dashboards[0].Properties.DashboardBody));
    for (const metric of ['Invocations', 'Duration', 'Errors', 'Throttles', 'ConcurrentExecutions', 'AsyncEventAge',
      'AsyncEventsDropped', 'ImagesProcessed', 'ImagesRejected', 'ApproximateNumberOfMessagesVisible']) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
    expect(body).toContain('success rate');
  });

  test('metric methods name the function and the pipeline metrics', () => {
    const { stack, pipeline } = synth();
    const fn = logicalId(stack, pipeline.processor as never);
    expect(stack.resolve(pipeline.metricImagesProcessed().dimensions)).toEqual({ Pipeline: { Ref: fn } });
    expect(pipeline.metricImagesProcessed().namespace).toBe('ImagePreprocessingPipeline');
    expect(pipeline.metricAsyncEventAge().metricName).toBe('AsyncEventAge');
    expect(pipeline.metricAsyncEventsDropped().statistic).toBe('Sum');
    expect(pipeline.metricConcurrentExecutions().statistic).toBe('Maximum');
    expect(stack.resolve(pipeline.metricErrors().dimensions)).toEqual({ FunctionName: { Ref: fn } });
  });

  test('fails when rejectedImagesAlarmThreshold is 0', () => {
    expect(() => synth({ rejectedImagesAlarmThreshold: 0 })).toThrow(/rejectedImagesAlarmThreshold must be an integer from 1/);
  });
});

describe('grants', () => {
  test('grantUpload and grantReadOutput give a principal the two prefixes only', () => {
    // GIVEN
    const stack = new Stack(new App(), 'Test');
    const pipeline = new ImagePreprocessingPipeline(stack, 'Images', { inputPrefix: 'in/', outputPrefix: 'out/' });
    const role = new iam.Role(stack, 'Uploader', { assumedBy: new iam.AccountRootPrincipal() });

    // WHEN
    pipeline.grantUpload(role);
    pipeline.grantReadOutput(role);

    // THEN
    const template = Template.fromStack(stack);
    const statements = Object.values(template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalId(stack, role) }] },
    }))[0].Properties.PolicyDocument.Statement;
    const input = logicalId(stack, pipeline.inputBucket as never);
    const output = logicalId(stack, pipeline.outputBucket as never);
    expect(statements).toEqual(expect.arrayContaining([
      expect.objectContaining({ Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [output, 'Arn'] }, '/out/*']] } }),
      expect.objectContaining({
        Action: expect.arrayContaining(['s3:PutObject']),
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [input, 'Arn'] }, '/in/*']] },
      }),
    ]));
    expect(statements.every((s: { Resource: unknown }) => JSON.stringify(s.Resource).match(/\/(in|out)\/\*/))).toBe(true);
  });
});

describe('EventBridge events', () => {
  function configDoc(stack: Stack, pipeline: ImagePreprocessingPipeline): Record<string, unknown> {
    // The document is JSON with tokens; resolved, its Fn::Join parts rebuild it with references left in.
    const resolved = stack.resolve(pipeline.pipelineConfig);
    const text = typeof resolved === 'string' ? resolved
      : (resolved['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'REF')).join('');
    return JSON.parse(text);
  }

  test('by default the processor may put events on the default bus, and its config says so', () => {
    const { stack, pipeline, template } = synth();
    // the bus by its ARN, the resource the role may put events on
    expect(configDoc(stack, pipeline).events).toEqual({ eventBusName: 'arn:REF:events:REF:REF:event-bus/default', source: 'image-preprocessing-pipeline' });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ImagesProcessorRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Sid: 'SendImageEvents',
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-bus/default']] },
        }]),
      },
    });
  });

  test('emitEvents false sends none and grants nothing', () => {
    const { stack, pipeline, template } = synth({ emitEvents: false });
    expect(configDoc(stack, pipeline).events).toBeUndefined();
    expect(processorActions(template)).not.toContain('events:PutEvents');
    expect(pipeline.eventBus).toBeUndefined();
    expect(() => pipeline.onImageProcessed('Rule')).toThrow(/sends no events \(emitEvents is false\)/);
  });

  test('onImageProcessed makes a rule for this pipeline\'s ImageProcessed events on its bus, with the target', () => {
    // GIVEN
    const stack = new Stack(new App(), 'Test');
    const bus = new events.EventBus(stack, 'Bus');
    const pipeline = new ImagePreprocessingPipeline(stack, 'Images', { eventBus: bus });
    const queue = new sqs.Queue(stack, 'Classifier');

    // WHEN
    pipeline.onImageProcessed('ToClassifier', { target: new targets.SqsQueue(queue) });
    pipeline.onImageRejected('Rejected');

    // THEN
    const template = Template.fromStack(stack);
    const fn = logicalId(stack, pipeline.processor as never);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalId(stack, bus) },
      EventPattern: { 'source': ['image-preprocessing-pipeline'], 'detail-type': ['ImageProcessed'], 'detail': { pipeline: [{ Ref: fn }] } },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(stack, queue), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ 'detail-type': ['ImageRejected'] }),
    });
    expect(configDoc(stack, pipeline).events).toEqual({ eventBusName: 'REF', source: 'image-preprocessing-pipeline' });
    expect(stack.resolve(pipeline.pipelineConfig)['Fn::Join'][1]).toContainEqual({ 'Fn::GetAtt': [logicalId(stack, bus), 'Arn'] });
  });

  test('a bus of another account is named by its ARN, so events go to that bus and not to one of the same name here', () => {
    // GIVEN
    const arn = 'arn:aws:events:us-east-1:222222222222:event-bus/shared';
    const { stack, pipeline, template } = synth({}, (s) => ({ eventBus: events.EventBus.fromEventBusArn(s, 'Theirs', arn) }));

    // THEN: the handler puts events on the ARN, which is the resource the role may put events on
    expect(configDoc(stack, pipeline).events).toEqual({ eventBusName: arn, source: 'image-preprocessing-pipeline' });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'SendImageEvents', Resource: arn })]) },
    });
  });
});
