/**
 * cdk-nag 2 (an Aspect that reads suppressions from the resources' `cdk_nag` metadata), still what
 * most apps use: the pipeline is clean under its AwsSolutions rules too.
 */
import { App, Aspects, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
// cdk-nag 2, installed beside cdk-nag 3 under another name
// eslint-disable-next-line import/no-extraneous-dependencies
import { AwsSolutionsChecks } from 'cdk-nag-v2';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, TriggerMode } from '../src';

/** The errors and warnings cdk-nag 2 reports on an app holding one pipeline. */
function findings(make: (stack: Stack) => ImagePreprocessingPipelineProps): string[] {
  const app = new App();
  const stack = new Stack(app, 'Test');
  new ImagePreprocessingPipeline(stack, 'Images', make(stack));
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  return app.node.findAll().flatMap((c) => c.node.metadata
    .filter((m) => m.type === 'aws:cdk:error' || m.type === 'aws:cdk:warning')
    .map((m) => `${c.node.path}: ${String(m.data).split(':')[0]}`));
}

test.each<[string, (stack: Stack) => ImagePreprocessingPipelineProps]>([
  ['the defaults', () => ({})],
  ['queue mode', () => ({ trigger: TriggerMode.QUEUE })],
  ['manifest, deletes, labels and a Batch Operations role, in queue mode', () => ({
    trigger: TriggerMode.QUEUE, manifest: true, processDeletes: true, labels: {}, batchOperations: {},
  })],
  ['x86_64 with prefixes', () => ({ architecture: lambda.Architecture.X86_64, inputPrefix: 'in/', outputPrefix: 'out/' })],
  ['one bucket of your own for both', (stack) => {
    const bucket = new s3.Bucket(stack, 'Both', { enforceSSL: true, serverAccessLogsPrefix: 'logs/' });
    return { inputBucket: bucket, outputBucket: bucket, inputPrefix: 'in/', outputPrefix: 'out/' };
  }],
])('%s: no AwsSolutions finding', (_what, make) => {
  expect(findings(make)).toEqual([]);
});

test('the suppressions are the acknowledged findings only: a wildcard the pipeline did not make is still reported', () => {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images');
  // a grant of the user's own, on every object of the output bucket
  pipeline.outputBucket.grantRead(pipeline.processor);
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  const reported = app.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:error').map((m) => String(m.data)));
  expect(reported.some((r) => r.startsWith('AwsSolutions-IAM5'))).toBe(true);
});
