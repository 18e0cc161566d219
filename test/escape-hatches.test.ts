/**
 * What users reach for beyond the defaults: no dashboard, one shared sharp layer, tracing, CORS
 * and lifecycle rules on the buckets the construct creates, and the underlying constructs.
 */
import { App, CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ImagePreprocessingPipeline, SharpLayer } from '../src';

function layerRefs(template: Template): unknown[] {
  return Object.values(template.findResources('AWS::Lambda::Function'))
    .filter((f) => f.Properties.Layers !== undefined)
    .map((f) => f.Properties.Layers[0]);
}

test('createDashboard false makes no dashboard and keeps every alarm', () => {
  const withIt = new ImagePreprocessingPipeline(new Stack(new App(), 'A'), 'Images');
  const stack = new Stack(new App(), 'B');
  const without = new ImagePreprocessingPipeline(stack, 'Images', { createDashboard: false });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  expect(without.dashboard).toBeUndefined();
  expect(withIt.dashboard).toBeDefined();
  template.resourceCountIs('AWS::CloudWatch::Alarm', withIt.alarms.length);
});

test('the pipelines of one stack share one sharp layer per architecture', () => {
  const stack = new Stack(new App(), 'Test');
  const a = new ImagePreprocessingPipeline(stack, 'Avatars');
  const b = new ImagePreprocessingPipeline(stack, 'Products');
  const c = new ImagePreprocessingPipeline(stack, 'Documents', { architecture: lambda.Architecture.X86_64 });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::Lambda::LayerVersion', 2);
  expect(a.sharpLayer).toBe(b.sharpLayer);
  expect(c.sharpLayer).not.toBe(a.sharpLayer);
  const refs = layerRefs(template).map((r) => JSON.stringify(r));
  expect(new Set(refs).size).toBe(2);
});

test('a sharp layer of your own is used, and one of another architecture is refused', () => {
  const stack = new Stack(new App(), 'Test');
  const layer = new SharpLayer(stack, 'Mine', { architecture: lambda.Architecture.ARM_64 });
  const p = new ImagePreprocessingPipeline(stack, 'Images', { sharpLayer: layer });
  expect(p.sharpLayer).toBe(layer);
  Template.fromStack(stack).resourceCountIs('AWS::Lambda::LayerVersion', 1);
  expect(() => new ImagePreprocessingPipeline(stack, 'X86', { sharpLayer: layer, architecture: lambda.Architecture.X86_64 }))
    .toThrow(/sharpLayer holds sharp for arm64, but the processor's architecture is x86_64/);
});

test('tracing is passed to the processor', () => {
  const stack = new Stack(new App(), 'Test');
  new ImagePreprocessingPipeline(stack, 'Images', { tracing: lambda.Tracing.ACTIVE });
  Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
});

test('CORS and lifecycle rules go on the buckets the construct creates', () => {
  const stack = new Stack(new App(), 'Test');
  const p = new ImagePreprocessingPipeline(stack, 'Images', {
    inputBucketCors: [{ allowedMethods: [s3.HttpMethods.PUT], allowedOrigins: ['https://example.com'] }],
    inputBucketLifecycleRules: [{ expiration: Duration.days(7) }],
    outputBucketLifecycleRules: [{ expiration: Duration.days(90) }],
  });
  const template = Template.fromStack(stack);
  const bucket = (b: s3.IBucket) => template.toJSON().Resources[stack.getLogicalId(b.node.defaultChild as CfnResource)].Properties;
  expect(bucket(p.inputBucket).CorsConfiguration.CorsRules).toEqual([{ AllowedMethods: ['PUT'], AllowedOrigins: ['https://example.com'] }]);
  expect(bucket(p.inputBucket).LifecycleConfiguration.Rules).toEqual([{ ExpirationInDays: 7, Status: 'Enabled' }]);
  expect(bucket(p.outputBucket).LifecycleConfiguration.Rules).toEqual([{ ExpirationInDays: 90, Status: 'Enabled' }]);
  expect(bucket(p.outputBucket).CorsConfiguration).toBeUndefined();
});

test('CORS or lifecycle rules for a bucket you bring are refused: they are yours to set', () => {
  const stack = new Stack(new App(), 'Test');
  const mine = new s3.Bucket(stack, 'Mine');
  expect(() => new ImagePreprocessingPipeline(stack, 'Images', {
    inputBucket: mine,
    inputBucketCors: [{ allowedMethods: [s3.HttpMethods.PUT], allowedOrigins: ['*'] }],
  })).toThrow(/inputBucketCors applies to the bucket this construct creates, and inputBucket was given/);
});
