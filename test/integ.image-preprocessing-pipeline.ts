/**
 * An example CDK app: a pipeline with two variants and queue mode, a classifier queue fed by its
 * ImageProcessed events, and an uploader role. `npx cdk synth --app "npx ts-node --transpile-only
 * -P tsconfig.dev.json test/integ.image-preprocessing-pipeline.ts"` synthesizes it.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ImageFit, ImagePreprocessingPipeline, OutputFormat, TriggerMode } from '../src';

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

app.synth();
