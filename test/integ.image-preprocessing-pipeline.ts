/**
 * The integration test: a pipeline with two variants and queue mode, a classifier queue fed by its
 * ImageProcessed events, and an uploader role; then a JPEG is uploaded and the test waits for both
 * variants in the output bucket and for the ImageProcessed event in the classifier queue.
 *
 * With AWS credentials, `npx integ-runner --language typescript --update-on-failed --force --app
 * "npx ts-node --transpile-only -P tsconfig.dev.json {filePath}"` deploys it, runs the assertions,
 * destroys it and rewrites the snapshot in integ.image-preprocessing-pipeline.ts.snapshot/ (this
 * needs an integ-runner that reads the cloud assembly version of the aws-cdk-lib in use).
 * test/example-app.test.ts synthesizes it as integ-runner does and compares the templates with
 * that snapshot; `UPDATE_INTEG_SNAPSHOT=1 npx jest test/example-app.test.ts` rewrites it.
 */
import { AwsApiCall, ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { Annotations, App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ImageFit, ImagePreprocessingPipeline, OutputFormat, TriggerMode } from '../src';

/** A 16x16 colour baseline JPEG (293 bytes), made once with sharp. */
const SAMPLE_JPEG_BASE64 =
  '/9j/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhC' +
  'Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAQABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAA' +
  'BQb/xAAXEAEAAwAAAAAAAAAAAAAAAAAEACEx/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAL/xAAZEQACAwEAAAAAAAAAAAAAAAAABAMFITH/2gAMAwEAAhEDEQA/' +
  'AJ84cqJnDlRM4cqJnDlSpWxXvc0//9k=';
const SAMPLE_KEY = 'uploads/integ/sample.jpg';

const app = new App();
const stack = new Stack(app, 'ImagePipelineExample');

const pipeline = new ImagePreprocessingPipeline(stack, 'Images', {
  inputPrefix: 'uploads/',
  outputPrefix: 'derived/',
  variants: [
    { name: 'grayscale-256', width: 256, height: 256, fit: ImageFit.FILL, grayscale: true, format: OutputFormat.JPEG },
    { name: 'thumb', width: 128, height: 128, fit: ImageFit.COVER, format: OutputFormat.WEBP, quality: 70 },
  ],
  trigger: TriggerMode.QUEUE,
  timeout: Duration.seconds(60),
  removalPolicy: RemovalPolicy.DESTROY,
});

const classify = new sqs.Queue(stack, 'ToClassify', { enforceSSL: true });
pipeline.onImageProcessed('Classify', { target: new targets.SqsQueue(classify) });

const uploader = new iam.Role(stack, 'Uploader', { assumedBy: new iam.AccountRootPrincipal() });
pipeline.grantUpload(uploader);
pipeline.grantReadOutput(uploader);

// The assertions, and what they need, live in a stack of their own: the stack under test is the
// example app as a user would write it.
const assertionStack = new Stack(app, 'ImagePipelineExampleAssertions');
Annotations.of(assertionStack).acknowledgeWarning('@aws-cdk/core:crossStackReferencesDefaultStrong',
  'the assertions are deployed and destroyed together with the stack under test');

// An SDK call made by the assertions passes its parameters as text, so an image body would not
// arrive intact: a small function uploads the JPEG's bytes the way a client would.
const putSample = new lambda.Function(assertionStack, 'PutSample', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  timeout: Duration.seconds(30),
  environment: { BUCKET: pipeline.inputBucket.bucketName, KEY: SAMPLE_KEY, BODY: SAMPLE_JPEG_BASE64 },
  code: lambda.Code.fromInline([
    "const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');",
    'exports.handler = async () => {',
    '  const { BUCKET, KEY, BODY } = process.env;',
    "  await new S3Client({}).send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: Buffer.from(BODY, 'base64'), ContentType: 'image/jpeg' }));",
    '  return { uploaded: KEY };',
    '};',
  ].join('\n')),
});
pipeline.grantUpload(putSample);

const integ = new IntegTest(app, 'ImagePipelineInteg', {
  testCases: [stack],
  assertionStack,
});

const upload = integ.assertions.invokeFunction({ functionName: putSample.functionName });
upload.expect(ExpectedResult.objectLike({ StatusCode: 200, Payload: Match.serializedJson({ uploaded: SAMPLE_KEY }) }));

/** Wait until a variant is in the output bucket, with the content type of its format. */
function outputObject(key: string, contentType: string) {
  const head = integ.assertions.awsApiCall('S3', 'headObject', { Bucket: pipeline.outputBucket.bucketName, Key: key });
  head.expect(ExpectedResult.objectLike({ ContentType: contentType }));
  head.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });
  // HeadObject is authorized by s3:GetObject, which the call's own name does not give
  (head as AwsApiCall).waiterProvider?.addToRolePolicy({ Effect: 'Allow', Action: ['s3:GetObject'], Resource: [pipeline.outputBucket.arnForObjects('derived/*')] });
  return head;
}

// The message the classifier would read: the ImageProcessed event for the upload.
const event = integ.assertions.awsApiCall('SQS', 'receiveMessage', {
  QueueUrl: classify.queueUrl,
  MaxNumberOfMessages: 10,
  WaitTimeSeconds: 20,
});
event.expect(ExpectedResult.objectLike({
  Messages: Match.arrayWith([Match.objectLike({
    Body: Match.serializedJson(Match.objectLike({
      'detail-type': 'ImageProcessed',
      'source': 'image-preprocessing-pipeline',
      'detail': Match.objectLike({ key: SAMPLE_KEY }),
    })),
  })]),
}));
event.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });

upload
  .next(outputObject('derived/grayscale-256/integ/sample.jpg', 'image/jpeg'))
  .next(outputObject('derived/thumb/integ/sample.webp', 'image/webp'))
  .next(event);

app.synth();
