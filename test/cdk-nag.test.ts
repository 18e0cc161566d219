/**
 * cdk-nag AwsSolutions: no unacknowledged finding, and every acknowledgement has its reason.
 */
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, TriggerMode } from '../src';

function violations(make: (stack: Stack) => ImagePreprocessingPipelineProps) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  new ImagePreprocessingPipeline(stack, 'Images', make(stack));
  const report = new AwsSolutionsChecks().validateScope(app);
  return { app, violations: report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`) };
}

function acknowledgements(root: IConstruct): Record<string, string> {
  const found: Record<string, string> = {};
  for (const c of root.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
        for (const [id, reason] of Object.entries(m.data as Record<string, string>)) {
          found[id.replace(/^annotation::/i, '').replace(/\[.*$/, '[...]')] = reason;
        }
      }
    }
  }
  return found;
}

describe('AwsSolutions', () => {
  test.each<[string, (stack: Stack) => ImagePreprocessingPipelineProps]>([
    ['the defaults', () => ({})],
    ['x86_64 with an alarm topic', (stack) => ({ architecture: lambda.Architecture.X86_64, alarmTopic: new sns.Topic(stack, 'T', { enforceSSL: true }) })],
    ['imported buckets, prefixes and suffixes', (stack) => ({
      inputBucket: s3.Bucket.fromBucketName(stack, 'In', 'incoming-images'),
      outputBucket: s3.Bucket.fromBucketName(stack, 'Out', 'derived-images'),
      inputPrefix: 'uploads/',
      outputPrefix: 'derived/',
      inputSuffixes: ['.jpg', '.png'],
    })],
    ['queue mode with a KMS key', (stack) => ({
      trigger: TriggerMode.QUEUE, encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }), timeout: Duration.seconds(20),
    })],
    ['manifest, deletes, labels and a Batch Operations role with an inventory bucket', (stack) => ({
      manifest: true,
      processDeletes: true,
      labels: { minConfidence: 70, maxLabels: 20 },
      outputPrefix: 'derived/',
      batchOperations: { inventoryBucket: s3.Bucket.fromBucketName(stack, 'Inventory', 'inventory-reports'), inventoryPrefix: 'input/' },
    })],
  ])('%s: no unacknowledged finding', (_what, make) => {
    expect(violations(make).violations).toEqual([]);
  });

  test('every acknowledgement the library makes has a reason', () => {
    const { app } = violations(() => ({}));
    const acks = acknowledgements(app);
    expect(Object.keys(acks).sort()).toEqual(['AwsSolutions-IAM4[...]', 'AwsSolutions-IAM5[...]', 'AwsSolutions-S1', 'AwsSolutions-SQS3']);
    for (const reason of Object.values(acks)) {
      expect(reason.length).toBeGreaterThan(60);
    }
  });
});
