/**
 * `new ImagePreprocessingPipeline(stack, 'Images')` with no props: every default the README lists,
 * least-privilege IAM, bring-your-own buckets, and validation before anything is made.
 */
import { App, CfnResource, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { validatePipelineConfig } from '../lambda-src/config';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, InputFormat, SharpLayer } from '../src';

function build(props?: ImagePreprocessingPipelineProps) {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', props);
  return { stack, pipeline, template: Template.fromStack(stack) };
}

function id(stack: Stack, c: unknown): string {
  return stack.getLogicalId((c as { node: { defaultChild: CfnResource } }).node.defaultChild);
}

/** The PIPELINE_CONFIG document with every reference replaced by a placeholder naming its target. */
function pipelineDocument(stack: Stack, pipeline: ImagePreprocessingPipeline): Record<string, unknown> {
  const resolved = stack.resolve(pipeline.pipelineConfig);
  if (typeof resolved === 'string') return JSON.parse(resolved);
  const parts = resolved['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : `<${JSON.stringify(p).replace(/"/g, '')}>`)).join(''));
}

describe('the default pipeline', () => {
  const { stack, pipeline, template } = build();
  const fnId = id(stack, pipeline.processor);
  const inputId = id(stack, pipeline.inputBucket);
  const outputId = id(stack, pipeline.outputBucket);
  const queueId = id(stack, pipeline.failureQueue);

  test('makes two private, encrypted, SSL-only buckets that are retained', () => {
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets).sort()).toEqual([inputId, outputId].sort());
    for (const b of Object.values(buckets)) {
      expect(b.DeletionPolicy).toBe('Retain');
      expect(b.UpdateReplacePolicy).toBe('Retain');
      expect(b.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
      });
      expect(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
    }
    for (const bucket of [inputId, outputId]) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({
            Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          })]),
        },
      });
    }
  });

  test('runs the bundled handler on nodejs24.x arm64 with the arm64 sharp layer, JSON logs and its own log group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 30,
      Layers: [{ Ref: id(stack, pipeline.sharpLayer) }],
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: Match.stringLikeRegexp('^ImagesProcessorLogs') } },
    });
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleArchitectures: ['arm64'],
      CompatibleRuntimes: Match.arrayWith(['nodejs24.x']),
      Description: Match.stringLikeRegexp(`sharp ${SharpLayer.SHARP_VERSION}.*linux-arm64`),
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('PIPELINE_CONFIG is the original system\'s behaviour, and the handler accepts it', () => {
    const doc = pipelineDocument(stack, pipeline);
    expect(doc).toMatchObject({
      version: 1,
      inputPrefix: '',
      outputPrefix: '',
      variants: [{ name: 'grayscale-256', width: 256, height: 256, fit: 'fill', grayscale: true, format: 'jpeg', quality: 80 }],
      acceptedFormats: ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'],
      maxInputPixels: 40_000_000,
      maxInputBytes: 50 * 1024 * 1024,
      keepMetadata: false,
    });
    expect(doc.inputBucket).toBe(`<{Ref:${inputId}}>`);
    expect(doc.outputBucket).toBe(`<{Ref:${outputId}}>`);
    // the handler's own parser takes the construct's document as it is
    const parsed = validatePipelineConfig(doc);
    expect(parsed.variants).toEqual([expect.objectContaining({ name: 'grayscale-256', width: 256, height: 256, fit: 'fill', grayscale: true })]);
  });

  test('every ObjectCreated upload invokes the function, which S3 may invoke for that bucket only', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: inputId },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [{ Events: ['s3:ObjectCreated:*'], LambdaFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] } }],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [inputId, 'Arn'] },
    });
  });

  test('retries twice over 6 hours, then sends the event to an encrypted, SSL-only failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('alarms on errors, throttles, duration at 80% of the timeout and failure-queue depth', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Statistic: 'Sum', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Statistic: 'Sum', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Statistic: 'Maximum', Threshold: 24000 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
    });
  });

  test('the processor\'s role holds exactly: its logs, GetObject and ListBucket on the input, PutObject, GetObject and DeleteObject on the output, PutEvents', () => {
    const role = Object.values(template.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] }),
      },
    }))
      .find((r) => JSON.stringify(r).includes('Reads uploads'))!;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = new Capture();
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ImagesProcessorRole') }],
      PolicyDocument: { Statement: statements },
    });
    const bySid = Object.fromEntries((statements.asArray() as { Sid?: string; Action: unknown }[]).map((s) => [s.Sid ?? 'unnamed', s]));
    expect(bySid.ReadUploads).toEqual({
      Sid: 'ReadUploads',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [inputId, 'Arn'] }, '/*']] },
    });
    expect(bySid.ListUploads).toEqual({
      Sid: 'ListUploads',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [inputId, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['*'] } },
    });
    expect(bySid.WriteOutputs).toEqual({
      Sid: 'WriteOutputs',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [outputId, 'Arn'] }, '/*']] },
    });
    // the newest upload wins: which upload an output comes from (HeadObject), conditional deletes of older ones
    expect(bySid.KeepOutputsInOrder).toEqual({
      Sid: 'KeepOutputsInOrder',
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:DeleteObject'],
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [outputId, 'Arn'] }, '/*']] },
    });
    expect(bySid.WriteOwnLogs.Action).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(Object.keys(bySid).sort()).toEqual(['KeepOutputsInOrder', 'ListUploads', 'ReadUploads', 'SendImageEvents', 'WriteOutputs', 'WriteOwnLogs', 'unnamed']);
    // the one unnamed statement is the failure-queue destination's
    expect(bySid.unnamed).toMatchObject({ Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'] });
  });

  test('no IAM statement anywhere has a wildcard action, nor an S3 action on every resource', () => {
    const offenders: string[] = [];
    const docs = [
      ...Object.entries(template.findResources('AWS::IAM::Policy')).map(([k, p]) => [k, p.Properties.PolicyDocument] as const),
      ...Object.entries(template.findResources('AWS::IAM::Role')).flatMap(([k, r]) =>
        (r.Properties.Policies ?? []).map((p: { PolicyDocument: unknown }) => [k, p.PolicyDocument] as const)),
    ];
    for (const [where, doc] of docs) {
      for (const s of (doc as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement) {
        const actions = ([] as string[]).concat(s.Action);
        if (actions.some((a) => a.includes('*'))) offenders.push(`${where}: ${actions}`);
        // aws-cdk-lib's bucket-notifications handler needs s3:PutBucketNotification on '*' (it
        // configures buckets by name at deploy time); it is not this library's policy to narrow.
        const notificationsHandler = where.startsWith('BucketNotificationsHandler') && actions.every((a) => a === 's3:PutBucketNotification');
        if (!notificationsHandler && s.Resource === '*' && actions.some((a) => a.startsWith('s3:'))) offenders.push(`${where}: S3 on *`);
      }
    }
    expect(offenders).toEqual([]);
  });

  test('the template, bar asset hashes, is as reviewed', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });
});

describe('options', () => {
  test('x86_64 gives the function and its layer x86_64 binaries', () => {
    const { template } = build({ architecture: lambda.Architecture.X86_64 });
    template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['x86_64'], Handler: 'index.handler' });
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleArchitectures: ['x86_64'], Description: Match.stringLikeRegexp('linux-x64'),
    });
  });

  test('prefixes scope the IAM resources, and each suffix gets its own notification', () => {
    const { stack, pipeline, template } = build({ inputPrefix: 'uploads/', outputPrefix: 'processed/', inputSuffixes: ['.jpg', '.png'] });
    const configs = new Capture();
    template.hasResourceProperties('Custom::S3BucketNotifications', { NotificationConfiguration: { LambdaFunctionConfigurations: configs } });
    const filters = (configs.asArray() as { Filter: { Key: { FilterRules: { Name: string; Value: string }[] } } }[])
      .map((c) => Object.fromEntries(c.Filter.Key.FilterRules.map((r) => [r.Name.toLowerCase(), r.Value])));
    expect(filters).toEqual([{ prefix: 'uploads/', suffix: '.jpg' }, { prefix: 'uploads/', suffix: '.png' }]);
    const json = JSON.stringify(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
    expect(json).toContain('"/uploads/*"');
    expect(json).toContain('"/processed/*"');
    expect(json).toContain('"s3:prefix":["uploads/*"]');
    expect(pipelineDocument(stack, pipeline)).toMatchObject({ inputPrefix: 'uploads/', outputPrefix: 'processed/' });
  });

  test('custom memory, timeout, retries, concurrency, limits and removal policy reach the template', () => {
    const { stack, pipeline, template } = build({
      memorySize: 1024,
      timeout: Duration.seconds(60),
      retryAttempts: 0,
      maxEventAge: Duration.minutes(5),
      reservedConcurrency: 7,
      maxInputPixels: 1_000_000,
      maxInputBytes: Size.mebibytes(2),
      removalPolicy: RemovalPolicy.DESTROY,
      acceptedFormats: [InputFormat.JPEG, InputFormat.SVG],
      keepMetadata: true,
    });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 60, ReservedConcurrentExecutions: 7 });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Threshold: 48000 });
    expect(Object.values(template.findResources('AWS::S3::Bucket')).map((b) => b.DeletionPolicy)).toEqual(['Delete', 'Delete']);
    expect(pipelineDocument(stack, pipeline)).toMatchObject({
      maxInputPixels: 1_000_000, maxInputBytes: 2 * 1024 * 1024, acceptedFormats: ['jpeg', 'svg'], keepMetadata: true,
    });
  });

  test('brought buckets are used as they are, and no bucket is made', () => {
    const stack = new Stack(new App(), 'Test');
    const input = new s3.Bucket(stack, 'Mine');
    const output = s3.Bucket.fromBucketName(stack, 'Theirs', 'their-output-bucket');
    new ImagePreprocessingPipeline(stack, 'Images', { inputBucket: input, outputBucket: output });
    const template = Template.fromStack(stack);
    expect(Object.keys(template.findResources('AWS::S3::Bucket'))).toEqual([id(stack, input)]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).toContain(':s3:::their-output-bucket/*');
  });

  test('one bucket for both is allowed with prefixes that do not overlap', () => {
    const stack = new Stack(new App(), 'Test');
    const bucket = new s3.Bucket(stack, 'Both');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', { inputBucket: bucket, outputBucket: bucket, inputPrefix: 'in/', outputPrefix: 'out/' }))
      .not.toThrow();
  });
});

describe('validation', () => {
  test('the error names the construct path, so a stack with several pipelines says which one failed', () => {
    const stack = new Stack(new App(), 'Test');
    new ImagePreprocessingPipeline(stack, 'Avatars');
    expect(() => new ImagePreprocessingPipeline(stack, 'Products', { memorySize: 64 }))
      .toThrow(/Invalid ImagePreprocessingPipeline props at Test\/Products:\n {2}- memorySize must be an integer from 128 to 10240, got 64/);
  });

  test('a number given as a string from JavaScript is named as a string', () => {
    const stack = new Stack(new App(), 'Test');
    const width = '256' as unknown as number;
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', { variants: [{ name: 'a', width }] }))
      .toThrow('variants[0].width must be an integer from 1 to 16383, got "256" (string)');
  });

  function expectInvalid(props: ImagePreprocessingPipelineProps, message: RegExp, extra?: (stack: Stack) => ImagePreprocessingPipelineProps) {
    const stack = new Stack(new App(), 'Test');
    const all = { ...props, ...extra?.(stack) };
    const before = stack.node.findAll().filter(CfnResource.isCfnResource).length;
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', all)).toThrow(message);
    // nothing was made before the props were checked
    expect(stack.node.findAll().filter(CfnResource.isCfnResource).length).toBe(before);
  }

  test.each<[string, ImagePreprocessingPipelineProps, RegExp]>([
    ['variants is empty', { variants: [] }, /variants must hold 1 to 10 variants, got 0/],
    ['there are 11 variants', { variants: Array.from({ length: 11 }, (_, i) => ({ name: `v${i}` })) }, /variants must hold 1 to 10 variants, got 11/],
    ['two variants share a name', { variants: [{ name: 'a' }, { name: 'a' }] }, /variants\[1\]\.name "a" is used by another variant/],
    ['a variant name has a slash', { variants: [{ name: 'a/b' }] }, /variants\[0\]\.name must be 1-64 letters.*got "a\/b"/],
    ['a width is 0', { variants: [{ name: 'a', width: 0 }] }, /variants\[0\]\.width must be an integer from 1 to 16383, got 0/],
    ['a width is 20000', { variants: [{ name: 'a', width: 20000 }] }, /variants\[0\]\.width must be an integer from 1 to 16383, got 20000/],
    ['a height is 1.5', { variants: [{ name: 'a', height: 1.5 }] }, /variants\[0\]\.height must be an integer from 1 to 16383, got 1.5/],
    ['quality is 0', { variants: [{ name: 'a', quality: 0 }] }, /variants\[0\]\.quality must be an integer from 1 to 100, got 0/],
    ['quality is 101', { variants: [{ name: 'a', quality: 101 }] }, /variants\[0\]\.quality must be an integer from 1 to 100, got 101/],
    ['the background is not a colour', { variants: [{ name: 'a', background: 'white' }] }, /variants\[0\]\.background must be a colour like "#ffffff", got "white"/],
    ['memorySize is 64', { memorySize: 64 }, /memorySize must be an integer from 128 to 10240, got 64/],
    ['memorySize is 20000', { memorySize: 20000 }, /memorySize must be an integer from 128 to 10240, got 20000/],
    ['timeout is 16 minutes', { timeout: Duration.minutes(16) }, /timeout must be from 1 second to 15 minutes, got 16 minutes/],
    ['retryAttempts is 3', { retryAttempts: 3 }, /retryAttempts must be an integer from 0 to 2, got 3/],
    ['maxEventAge is 30 seconds', { maxEventAge: Duration.seconds(30) }, /maxEventAge must be from 1 minute to 6 hours, got 30 seconds/],
    ['maxEventAge is 7 hours', { maxEventAge: Duration.hours(7) }, /maxEventAge must be from 1 minute to 6 hours, got 7 hours/],
    ['reservedConcurrency is 0', { reservedConcurrency: 0 }, /reservedConcurrency must be an integer from 1 to 100000, got 0/],
    ['inputPrefix starts with a slash', { inputPrefix: '/uploads/' }, /inputPrefix must not start with "\/"/],
    ['acceptedFormats is empty', { acceptedFormats: [] }, /acceptedFormats must name at least one format/],
    ['maxInputBytes is 0', { maxInputBytes: Size.bytes(0) }, /maxInputBytes must be at least 1 byte/],
    ['maxInputPixels is 0', { maxInputPixels: 0 }, /maxInputPixels must be an integer from 1/],
    ['an inputSuffix is empty', { inputSuffixes: [''] }, /inputSuffixes must not contain an empty string/],
  ])('fails when %s', (_what, props, message) => {
    expectInvalid(props, message);
  });

  test.each<[string, string | undefined, string | undefined]>([
    ['no prefixes', undefined, undefined],
    ['overlapping prefixes', 'a/', 'a/b/'],
    ['the same prefix', 'x/', 'x/'],
  ])('fails when one bucket is both input and output with %s', (_what, inputPrefix, outputPrefix) => {
    expectInvalid({ inputPrefix, outputPrefix }, /same bucket.*would trigger the processor again/, (stack) => {
      const bucket = new s3.Bucket(stack, 'Both');
      return { inputBucket: bucket, outputBucket: bucket };
    });
  });

  test('fails with every problem named at once', () => {
    expectInvalid({ memorySize: 1, retryAttempts: 9, variants: [{ name: '' }] },
      /memorySize must be[\s\S]*retryAttempts must be|retryAttempts must be[\s\S]*memorySize must be/);
    expect(() => build({ memorySize: 1, retryAttempts: 9, variants: [{ name: '' }] })).toThrow(/variants\[0\]\.name/);
  });
});
