/**
 * The upload API construct: what it synthesizes, the least privilege of its functions, its
 * authorization, CORS, throttling and alarms, its synth-time checks, and cdk-nag.
 */
import { App, Aspects, Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
// cdk-nag 2, installed beside cdk-nag 3 under another name
// eslint-disable-next-line import/no-extraneous-dependencies
import { AwsSolutionsChecks as Nag2Checks } from 'cdk-nag-v2';
import { effectiveMaxBytes, memoryBudgetFor } from '../lambda-src/transform';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, InputFormat, TriggerMode, UploadApi } from '../src';
import { handlerMaxBytes } from '../src/private/upload-api-contract';

function synth(props: ImagePreprocessingPipelineProps = {}, more?: (stack: Stack, p: ImagePreprocessingPipeline) => void) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', props);
  more?.(stack, pipeline);
  return { app, stack, pipeline, template: Template.fromStack(stack) };
}

/** The statements of the policy attached to the role whose logical id starts with `rolePrefix`. */
function statementsOf(template: Template, rolePrefix: string): Record<string, unknown>[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const found = Object.values(policies).filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref.startsWith(rolePrefix)));
  expect(found).toHaveLength(1);
  return found[0].Properties.PolicyDocument.Statement;
}

describe('UploadApi', () => {
  test('no API, no API Gateway: the default pipeline makes none', () => {
    const { template, pipeline } = synth();
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    expect(pipeline.uploadApi).toBeUndefined();
  });

  test('uploadApi: {} makes an HTTP API with IAM authorization on both routes, a throttled stage with access logs', () => {
    // GIVEN / WHEN
    const { template, pipeline } = synth({ uploadApi: {} });
    // THEN
    expect(pipeline.uploadApi).toBeInstanceOf(UploadApi);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /uploads', AuthorizationType: 'AWS_IAM' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /uploads/{id}', AuthorizationType: 'AWS_IAM' });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 2);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context\\.requestId') },
    });
    // no CORS unless origins are given
    const api = Object.values(template.findResources('AWS::ApiGatewayV2::Api'))[0];
    expect(api.Properties.CorsConfiguration).toBeUndefined();
  });

  test('the functions get the pipeline\'s document and the API\'s own: the size limit the processor takes, URLs valid for minutes', () => {
    const { template } = synth({ uploadApi: {} });
    const functions = Object.values(template.findResources('AWS::Lambda::Function'))
      .filter((f) => f.Properties.Environment?.Variables?.UPLOAD_API_CONFIG !== undefined);
    expect(functions).toHaveLength(2);
    for (const f of functions) {
      expect(JSON.parse(f.Properties.Environment.Variables.UPLOAD_API_CONFIG)).toEqual({
        maxUploadBytes: 50 * 1024 * 1024, uploadUrlExpirySeconds: 300, downloadUrlExpirySeconds: 900,
      });
      expect(f.Properties.Environment.Variables.PIPELINE_CONFIG).toBeDefined();
      expect(f.Properties.Runtime).toBe('nodejs24.x');
      // no layer: the API never decodes an image
      expect(f.Properties.Layers).toBeUndefined();
    }
  });

  test('least privilege: the upload function may only put under <inputPrefix>uploads/, the status function only read results', () => {
    // GIVEN prefixes, so the ARNs show them
    const { template } = synth({ inputPrefix: 'in/', outputPrefix: 'out/', uploadApi: {} });
    const upload = statementsOf(template, 'ImagesUploadApiUploadFunctionRole');
    expect(upload.map((s) => s.Action)).toEqual([['logs:CreateLogStream', 'logs:PutLogEvents'], 's3:PutObject']);
    expect(JSON.stringify(upload[1].Resource)).toContain('/in/uploads/*');
    const status = statementsOf(template, 'ImagesUploadApiStatusFunctionRole');
    expect(status.map((s) => s.Action)).toEqual([['logs:CreateLogStream', 'logs:PutLogEvents'], 's3:GetObject', 's3:ListBucket']);
    expect(JSON.stringify(status[1].Resource)).toContain('/out/*');
    expect(JSON.stringify(status[1].Resource)).toContain('OutputBucket');
    expect(status[2].Condition).toEqual({ StringLike: { 's3:prefix': ['out/*'] } });
    // no managed policy on either role
    const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('ImagesUploadApi'));
    expect(roles).toHaveLength(2);
    for (const [, role] of roles) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('a KMS-encrypted pipeline: the upload function may make data keys, the status function decrypt', () => {
    const { template } = synth({ uploadApi: {} }, undefined);
    expect(JSON.stringify(statementsOf(template, 'ImagesUploadApiUploadFunctionRole'))).not.toContain('kms:');
    const withKey = (() => {
      const app = new App();
      const stack = new Stack(app, 'K');
      new ImagePreprocessingPipeline(stack, 'Images', { encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }), uploadApi: {} });
      return Template.fromStack(stack);
    })();
    expect(JSON.stringify(statementsOf(withKey, 'ImagesUploadApiUploadFunctionRole'))).toContain('kms:GenerateDataKey');
    expect(JSON.stringify(statementsOf(withKey, 'ImagesUploadApiStatusFunctionRole'))).toContain('kms:Decrypt');
  });

  test('a JWT authorizer of the user\'s own authorizes both routes', () => {
    const { template } = synth({
      uploadApi: { authorizer: new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['app'] }) },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /uploads', AuthorizationType: 'JWT' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /uploads/{id}', AuthorizationType: 'JWT' });
  });

  test('an open API needs allowUnauthenticated, and synth warns', () => {
    const { stack, template } = synth({ uploadApi: { allowUnauthenticated: true } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /uploads', AuthorizationType: 'NONE' });
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('no authorization'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].id).toBe('/Test/Images/UploadApi');
  });

  test('IAM by default: no warning', () => {
    const { stack } = synth({ uploadApi: {} });
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('authorization'))).toHaveLength(0);
  });

  test('allowedOrigins: CORS on the API and a PUT rule on the input bucket the pipeline created', () => {
    const { template } = synth({ uploadApi: { allowedOrigins: ['https://app.example.com'] } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.example.com'], AllowMethods: ['GET', 'POST'] }),
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [{
          AllowedMethods: ['PUT'],
          AllowedOrigins: ['https://app.example.com'],
          AllowedHeaders: ['content-type', 'if-none-match'],
          ExposedHeaders: ['etag'],
          MaxAge: 3600,
        }],
      },
    });
  });

  test('allowedOrigins with a brought input bucket: a warning that its CORS is the owner\'s', () => {
    const app = new App();
    const stack = new Stack(app, 'Test');
    new ImagePreprocessingPipeline(stack, 'Images', {
      inputBucket: s3.Bucket.fromBucketName(stack, 'In', 'incoming'),
      uploadApi: { allowedOrigins: ['https://app.example.com'] },
    });
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('CORS rules are yours'))).toHaveLength(1);
  });

  test('alarms on 5xx and p99 latency, notifying the pipeline\'s alarm topic', () => {
    const { template, pipeline } = synth({}, () => undefined);
    void pipeline;
    const app = new App();
    const stack = new Stack(app, 'A');
    const topic = new sns.Topic(stack, 'Topic');
    new ImagePreprocessingPipeline(stack, 'Images', { alarmTopic: topic, uploadApi: { latencyAlarmThreshold: Duration.seconds(2) } });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '5xx', Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Threshold: 1, AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Latency', Namespace: 'AWS/ApiGateway', ExtendedStatistic: 'p99', Threshold: 2000, AlarmActions: [{ Ref: Match.stringLikeRegexp('Topic') }],
    });
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });

  test('grantInvoke: execute-api:Invoke on the two routes', () => {
    const { template } = synth({ uploadApi: {} }, (stack, p) => {
      p.uploadApi!.grantInvoke(new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() }));
    });
    const statements = statementsOf(template, 'Caller');
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('execute-api:Invoke');
    const arns = JSON.stringify(statements[0].Resource);
    expect(arns).toContain('/$default/POST/uploads');
    expect(arns).toContain('/$default/GET/uploads/*');
  });

  test('throttling and URL expiry are the ones given', () => {
    const { template } = synth({
      uploadApi: { throttleRateLimit: 3, throttleBurstLimit: 5, uploadUrlExpiry: Duration.minutes(2), maxUploadSize: Size.mebibytes(5) },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 3, ThrottlingBurstLimit: 5 } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          UPLOAD_API_CONFIG: JSON.stringify({ maxUploadBytes: 5 * 1024 * 1024, uploadUrlExpirySeconds: 120, downloadUrlExpirySeconds: 900 }),
        }),
      },
    });
  });

  describe('synth-time checks, each naming the prop', () => {
    test.each<[string, ImagePreprocessingPipelineProps, RegExp]>([
      ['fails when an authorizer and allowUnauthenticated are both given', {
        uploadApi: { allowUnauthenticated: true, authorizer: new HttpJwtAuthorizer('J', 'https://issuer.example.com', { jwtAudience: ['a'] }) },
      }, /uploadApi\.authorizer and uploadApi\.allowUnauthenticated exclude each other/],
      ['fails when an origin is a wildcard', { uploadApi: { allowedOrigins: ['*'] } }, /uploadApi\.allowedOrigins\[0\] must be an origin .* got "\*"/],
      ['fails when an origin has a path', { uploadApi: { allowedOrigins: ['https://a.example.com/app'] } }, /uploadApi\.allowedOrigins\[0\]/],
      ['fails when an origin is plain http beyond localhost', { uploadApi: { allowedOrigins: ['http://a.example.com'] } }, /must use https/],
      ['fails when the upload URL lives hours', { uploadApi: { uploadUrlExpiry: Duration.hours(2) } }, /uploadApi\.uploadUrlExpiry must be from 1 minute to 1 hour, got 2 hours/],
      ['fails when the download URL lives seconds', { uploadApi: { downloadUrlExpiry: Duration.seconds(10) } }, /uploadApi\.downloadUrlExpiry must be from 1 minute/],
      ['fails when the throttle rate is 0', { uploadApi: { throttleRateLimit: 0 } }, /uploadApi\.throttleRateLimit must be an integer from 1 to 10000, got 0/],
      ['fails when maxUploadSize is more than a 128 MB processor takes', { memorySize: 128, uploadApi: { maxUploadSize: Size.mebibytes(10) } },
        /uploadApi\.maxUploadSize must be from 1 byte to 7340032 bytes .* got 10485760 bytes/],
      ['fails when the latency threshold is beyond 30 s', { uploadApi: { latencyAlarmThreshold: Duration.minutes(1) } }, /uploadApi\.latencyAlarmThreshold/],
      ['fails when inputSuffixes would never match some uploads',
        { inputSuffixes: ['.jpg'], acceptedFormats: [InputFormat.JPEG, InputFormat.PNG], uploadApi: {} },
        /uploads of png get keys ending in "\.png", which no inputSuffixes \("\.jpg"\) match/],
    ])('%s', (_name, props, message) => {
      expect(() => synth(props)).toThrow(message);
    });

    test('fails when the pipeline has rules and none covers the upload folder', () => {
      expect(() => synth({ rules: [{ prefix: 'avatars/', variants: [{ name: 'a', width: 64, height: 64 }] }], uploadApi: {} }))
        .toThrow(/uploadApi: uploads get keys under "uploads\/" \(after inputPrefix\), which no rule's prefix covers \("avatars\/"\)/);
      expect(() => synth({ rules: [{ prefix: 'uploads/', variants: [{ name: 'a', width: 64, height: 64 }] }], uploadApi: {} })).not.toThrow();
    });

    test('fails when maxUploadSize is more than a record\'s share of the memory takes (concurrency)', () => {
      // 512 MB, 4 records at once: (512 - 100) MiB = 432013312 bytes, a quarter per record, held 4 times: 27000832
      expect(() => synth({ trigger: TriggerMode.QUEUE, concurrency: 4, uploadApi: { maxUploadSize: Size.mebibytes(30) } }))
        .toThrow(/uploadApi\.maxUploadSize must be from 1 byte to 27000832 bytes/);
    });

    test('inputSuffixes that match every accepted format are fine', () => {
      expect(() => synth({ inputSuffixes: ['.jpg', '.png'], acceptedFormats: [InputFormat.JPEG, InputFormat.PNG], uploadApi: {} })).not.toThrow();
    });
  });

  test('the API\'s size ceiling is the handler\'s own (lambda-src/process-image.lambda.ts and transform.ts)', () => {
    for (const memory of [128, 256, 300, 512, 1024, 10240]) {
      for (const concurrency of [1, 3, 8]) {
        for (const maxInputBytes of [1000, 5 * 1024 * 1024, 50 * 1024 * 1024, 10 * 1024 * 1024 * 1024]) {
          const handlers = effectiveMaxBytes({ maxInputBytes, memoryBudgetBytes: Math.floor(memoryBudgetFor(memory) / concurrency) });
          expect(handlerMaxBytes(maxInputBytes, memory, concurrency)).toBe(handlers);
        }
      }
    }
  });

  test('usable standalone on a pipeline', () => {
    const app = new App();
    const stack = new Stack(app, 'S');
    const pipeline = new ImagePreprocessingPipeline(stack, 'Images');
    const api = new UploadApi(stack, 'Api', { pipeline });
    expect(api.url).toBeDefined();
    Template.fromStack(stack).resourceCountIs('AWS::ApiGatewayV2::Route', 2);
  });
});

describe('UploadApi under cdk-nag 2 AwsSolutions (the suppressions in the resources\' metadata)', () => {
  test.each<[string, ImagePreprocessingPipelineProps]>([
    ['IAM authorization', { uploadApi: {} }],
    ['a JWT authorizer and browser origins', {
      uploadApi: { authorizer: new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['app'] }), allowedOrigins: ['https://app.example.com'] },
    }],
  ])('%s: no finding', (_what, props) => {
    const app = new App();
    const stack = new Stack(app, 'Test');
    new ImagePreprocessingPipeline(stack, 'Images', props);
    Aspects.of(app).add(new Nag2Checks());
    app.synth();
    const found = app.node.findAll().flatMap((c) => c.node.metadata
      .filter((m) => m.type === 'aws:cdk:error' || m.type === 'aws:cdk:warning')
      .map((m) => `${c.node.path}: ${String(m.data).split(':')[0]}`));
    expect(found).toEqual([]);
  });
});

describe('UploadApi under cdk-nag AwsSolutions', () => {
  function violations(props: ImagePreprocessingPipelineProps, make?: (stack: Stack) => ImagePreprocessingPipelineProps) {
    const app = new App();
    const stack = new Stack(app, 'Test');
    new ImagePreprocessingPipeline(stack, 'Images', { ...props, ...make?.(stack) });
    const report = new AwsSolutionsChecks().validateScope(app);
    return { app, violations: report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`) };
  }

  test.each<[string, ImagePreprocessingPipelineProps, ((stack: Stack) => ImagePreprocessingPipelineProps) | undefined]>([
    ['IAM authorization', { uploadApi: {} }, undefined],
    ['a JWT authorizer, browser origins, prefixes', {
      inputPrefix: 'in/',
      outputPrefix: 'out/',
      uploadApi: { authorizer: new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['app'] }), allowedOrigins: ['https://app.example.com'] },
    }, undefined],
    ['a KMS key', { uploadApi: {} }, (stack) => ({ encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }) })],
  ])('%s: no unacknowledged finding', (_what, props, make) => {
    expect(violations(props, make).violations).toEqual([]);
  });

  test('an open API is reported (APIG4), for its owner to acknowledge', () => {
    const found = violations({ uploadApi: { allowUnauthenticated: true } }).violations;
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^AwsSolutions-APIG4: .*UploadApi\/HttpApi\/POST--uploads.*GET--uploads/);
  });

  test('what the API acknowledges: only its functions\' prefix-scoped object ARNs (IAM5), each with a reason', () => {
    const { app } = violations({ uploadApi: {} });
    const api = app.node.findAll().find((c) => c.node.path === 'Test/Images/UploadApi')!;
    const acks: Record<string, string> = {};
    for (const c of api.node.findAll()) {
      for (const m of c.node.metadata) {
        if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) Object.assign(acks, m.data);
      }
    }
    const ids = Object.keys(acks).map((id) => id.replace(/^annotation::/i, ''));
    expect(ids.sort()).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<ImagesInputBucket[0-9A-F]+\.Arn>\/uploads\/\*\]$/),
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<ImagesOutputBucket[0-9A-F]+\.Arn>\/\*\]$/),
    ]);
    for (const reason of Object.values(acks)) expect(reason.length).toBeGreaterThan(60);
  });
});

