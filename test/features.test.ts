/**
 * The opt-in features in the template: the manifest, deletes, labels and the S3 Batch Operations
 * role; each off by default, each checked at synth.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, TriggerMode } from '../src';

function synth(props: ImagePreprocessingPipelineProps = {}, extra?: (stack: Stack) => Partial<ImagePreprocessingPipelineProps>) {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', { ...props, ...extra?.(stack) });
  return { stack, pipeline, template: Template.fromStack(stack) };
}

/** Every statement of the policies of the roles whose logical IDs start with `rolePrefix`. */
function statements(template: Template, rolePrefix: string): { Action: string | string[]; Resource: unknown; Sid?: string }[] {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`^${rolePrefix}`) }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function actions(template: Template, rolePrefix: string): string[] {
  return statements(template, rolePrefix).flatMap((s) => s.Action);
}

/** The PIPELINE_CONFIG document, each reference replaced by a placeholder. */
function documentOf(pipeline: ImagePreprocessingPipeline, stack: Stack): Record<string, unknown> {
  const resolved = stack.resolve(pipeline.pipelineConfig);
  if (typeof resolved === 'string') return JSON.parse(resolved);
  const parts = resolved['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((x) => (typeof x === 'string' ? x : 'ref')).join(''));
}

function notificationEvents(template: Template): string[] {
  const n = Object.values(template.findResources('Custom::S3BucketNotifications'))[0].Properties.NotificationConfiguration;
  return [...n.LambdaFunctionConfigurations ?? [], ...n.QueueConfigurations ?? []].flatMap((c: { Events: string[] }) => c.Events);
}

describe('the defaults', () => {
  test('no manifest, no deletes, no labels, no Batch Operations role: the document and the role are as before', () => {
    const { template, pipeline, stack } = synth();
    const doc = documentOf(pipeline, stack);
    expect(doc).not.toHaveProperty('manifest');
    expect(doc).not.toHaveProperty('processDeletes');
    expect(doc).not.toHaveProperty('labels');
    expect(notificationEvents(template)).toEqual(['s3:ObjectCreated:*']);
    expect(actions(template, 'ImagesProcessorRole')).not.toContain('rekognition:DetectLabels');
    expect(pipeline.batchOperationsRole).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'batchoperations.s3.amazonaws.com' } })] } } }))).toEqual([]);
  });
});

describe('manifest', () => {
  test('the document asks for it; nothing else changes', () => {
    const { pipeline, stack, template } = synth({ manifest: true });
    expect(documentOf(pipeline, stack)).toMatchObject({ manifest: true });
    expect(notificationEvents(template)).toEqual(['s3:ObjectCreated:*']);
  });
});

describe('processDeletes', () => {
  test('ObjectRemoved notifications with the uploads\' filters reach the function; no delete is granted on the input bucket', () => {
    const { pipeline, stack, template } = synth({ processDeletes: true, inputPrefix: 'in/', inputSuffixes: ['.jpg', '.png'] });
    expect(documentOf(pipeline, stack)).toMatchObject({ processDeletes: true });
    const configs = Object.values(template.findResources('Custom::S3BucketNotifications'))[0].Properties.NotificationConfiguration.LambdaFunctionConfigurations;
    const removed = configs.filter((c: { Events: string[] }) => c.Events[0] === 's3:ObjectRemoved:*');
    expect(removed.map((c: { Filter: unknown }) => c.Filter)).toEqual([
      { Key: { FilterRules: [{ Name: 'suffix', Value: '.jpg' }, { Name: 'prefix', Value: 'in/' }] } },
      { Key: { FilterRules: [{ Name: 'suffix', Value: '.png' }, { Name: 'prefix', Value: 'in/' }] } },
    ]);
    const inputBucket = stack.getLogicalId(pipeline.inputBucket.node.defaultChild as s3.CfnBucket);
    const deletes = statements(template, 'ImagesProcessorRole').filter((s) => ([] as string[]).concat(s.Action).includes('s3:DeleteObject'));
    expect(JSON.stringify(deletes)).not.toContain(inputBucket);
  });

  test('in queue mode, deletes go through the upload queue', () => {
    const { stack, pipeline, template } = synth({ processDeletes: true, trigger: TriggerMode.QUEUE });
    const queue = stack.getLogicalId(pipeline.uploadQueue!.node.defaultChild as never);
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: Match.arrayWith([Match.objectLike({ Events: ['s3:ObjectRemoved:*'], QueueArn: { 'Fn::GetAtt': [queue, 'Arn'] } })]),
      },
    });
  });

  test('fails when processDeletes is not a boolean', () => {
    expect(() => synth({ processDeletes: 'yes' as never })).toThrow(/processDeletes must be true or false, got "yes"/);
  });
});

describe('labels', () => {
  test('only rekognition:DetectLabels is granted, on "*" (it has no resource type); the document carries the defaults', () => {
    const { pipeline, stack, template } = synth({ labels: {} });
    expect(documentOf(pipeline, stack)).toMatchObject({ labels: { minConfidence: 55, maxLabels: 10 } });
    const rekognition = statements(template, 'ImagesProcessorRole').filter((s) => JSON.stringify(s.Action).includes('rekognition'));
    expect(rekognition).toEqual([expect.objectContaining({ Action: 'rekognition:DetectLabels', Resource: '*', Sid: 'DetectLabels' })]);
  });

  test.each<[string, ImagePreprocessingPipelineProps['labels'], RegExp]>([
    ['minConfidence above 100', { minConfidence: 100.5 }, /labels\.minConfidence must be a number from 0 to 100, got 100\.5/],
    ['minConfidence below 0', { minConfidence: -1 }, /labels\.minConfidence must be a number from 0 to 100, got -1/],
    ['maxLabels 0', { maxLabels: 0 }, /labels\.maxLabels must be an integer from 1 to 100, got 0/],
    ['maxLabels not whole', { maxLabels: 2.5 }, /labels\.maxLabels must be an integer from 1 to 100, got 2\.5/],
  ])('fails when %s', (_what, labels, error) => {
    expect(() => synth({ labels })).toThrow(error);
  });
});

describe('batchOperations', () => {
  test('a role Batch Operations assumes: invoke the processor, read the job manifests, write the job reports', () => {
    const { pipeline, stack, template } = synth({ batchOperations: {}, outputPrefix: 'derived/' });
    expect(pipeline.batchOperationsRole).toBeDefined();
    const roleId = stack.getLogicalId(pipeline.batchOperationsRole!.node.defaultChild as never);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'batchoperations.s3.amazonaws.com' } })] },
    });
    const processorId = stack.getLogicalId(pipeline.processor.node.defaultChild as never);
    const output = stack.getLogicalId(pipeline.outputBucket.node.defaultChild as never);
    const objects = (suffix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [output, 'Arn'] }, suffix]] });
    expect(statements(template, roleId)).toEqual([
      { Sid: 'InvokeProcessor', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [processorId, 'Arn'] } },
      { Sid: 'ReadJobManifests', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: objects('/derived/_batch/manifests/*') },
      { Sid: 'WriteJobReports', Effect: 'Allow', Action: 's3:PutObject', Resource: objects('/derived/_batch/reports/*') },
      { Sid: 'LocateJobBuckets', Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: { 'Fn::GetAtt': [output, 'Arn'] } },
    ]);
  });

  test('with an inventory bucket and a KMS key: its reports may be read, the keys used', () => {
    const { pipeline, stack, template } = synth({ batchOperations: {} }, (s) => ({
      encryptionKey: new kms.Key(s, 'Key'),
      batchOperations: { inventoryBucket: s3.Bucket.fromBucketName(s, 'Inv', 'inventory-reports'), inventoryPrefix: 'input-inventory/' },
    }));
    const roleId = stack.getLogicalId(pipeline.batchOperationsRole!.node.defaultChild as never);
    const all = JSON.stringify(statements(template, roleId));
    expect(all).toContain(':s3:::inventory-reports/input-inventory/*');
    expect(all).toContain('kms:Decrypt');
    expect(all).toContain('kms:GenerateDataKey');
  });

  test('fails when inventoryPrefix comes without inventoryBucket', () => {
    expect(() => synth({ batchOperations: { inventoryPrefix: 'x/' } })).toThrow(/batchOperations\.inventoryPrefix applies to batchOperations\.inventoryBucket/);
  });
});
