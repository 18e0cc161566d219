import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResource } from './nag';
import { BATCH_FOLDERS } from '../contract';

export interface ProcessorRoleProps {
  readonly logGroup: logs.ILogGroup;
  readonly inputBucket: s3.IBucket;
  readonly inputPrefix: string;
  readonly outputBucket: s3.IBucket;
  readonly outputPrefix: string;
  readonly eventBus?: events.IEventBus;
  /** Amazon Rekognition labels of each upload. */
  readonly labels?: boolean;
}

/** The processor's own role: only what it uses, no managed policy. */
export function processorRole(scope: Construct, p: ProcessorRoleProps): iam.Role {
  const role = new iam.Role(scope, 'ProcessorRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Reads uploads under the input prefix, writes under the output prefix',
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'WriteOwnLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [p.logGroup.logGroupArn],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ReadUploads',
    actions: ['s3:GetObject'],
    resources: [p.inputBucket.arnForObjects(`${p.inputPrefix}*`)],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    // Without it, a deleted object reads as AccessDenied rather than NoSuchKey.
    sid: 'ListUploads',
    actions: ['s3:ListBucket'],
    resources: [p.inputBucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${p.inputPrefix}*`] } },
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'WriteOutputs',
    actions: ['s3:PutObject'],
    resources: [p.outputBucket.arnForObjects(`${p.outputPrefix}*`)],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    // The newest upload wins: HeadObject shows which upload an output comes from, and an older
    // upload's results are removed with conditional deletes (which also need s3:GetObject).
    sid: 'KeepOutputsInOrder',
    actions: ['s3:GetObject', 's3:DeleteObject'],
    resources: [p.outputBucket.arnForObjects(`${p.outputPrefix}*`)],
  }));
  if (p.eventBus) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'SendImageEvents',
      actions: ['events:PutEvents'],
      resources: [p.eventBus.eventBusArn],
    }));
  }
  if (p.labels) {
    // Rekognition reads the object with the caller's permissions: ReadUploads (and the input
    // bucket's key, below) covers it.
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      sid: 'DetectLabels',
      actions: ['rekognition:DetectLabels'],
      resources: ['*'],
    }));
    acknowledge(role, 'AwsSolutions-IAM5',
      'rekognition:DetectLabels has no resource-level permissions (the Service Authorization Reference lists no resource type for it), so its resource must be "*"; it is the only Rekognition action granted.',
      'Resource::*');
  }
  p.inputBucket.encryptionKey?.grant(role, 'kms:Decrypt');
  p.outputBucket.encryptionKey?.grant(role, 'kms:GenerateDataKey');
  return role;
}

export interface BatchOperationsRoleProps {
  readonly processor: lambda.IFunction;
  readonly outputBucket: s3.IBucket;
  readonly outputPrefix: string;
  readonly inventoryBucket?: s3.IBucket;
  readonly inventoryPrefix?: string;
}

/**
 * The role of S3 Batch Operations jobs that run the processor over existing objects: invoke the
 * processor, read the jobs' manifests (the CSVs under `<outputPrefix>_batch/manifests/`, and S3
 * Inventory reports when a bucket of them is given), write the completion reports under
 * `<outputPrefix>_batch/reports/`. As the Batch Operations guide's policy for "Invoke AWS Lambda
 * function" has it, with the object ARNs narrowed to those prefixes
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-iam-role-policies.html).
 */
export function batchOperationsRole(scope: Construct, p: BatchOperationsRoleProps): iam.Role {
  const role = new iam.Role(scope, 'BatchOperationsRole', {
    assumedBy: new iam.ServicePrincipal('batchoperations.s3.amazonaws.com'),
    description: 'S3 Batch Operations jobs: invoke the image processor, read job manifests, write job reports',
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'InvokeProcessor',
    actions: ['lambda:InvokeFunction'],
    resources: [p.processor.functionArn],
  }));
  const manifests = p.outputBucket.arnForObjects(`${p.outputPrefix}${BATCH_FOLDERS.manifests}*`);
  const reports = p.outputBucket.arnForObjects(`${p.outputPrefix}${BATCH_FOLDERS.reports}*`);
  const inventory = p.inventoryBucket?.arnForObjects(`${p.inventoryPrefix ?? ''}*`);
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ReadJobManifests',
    actions: ['s3:GetObject', 's3:GetObjectVersion'],
    resources: [manifests, ...inventory ? [inventory] : []],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'WriteJobReports',
    actions: ['s3:PutObject'],
    resources: [reports],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'LocateJobBuckets',
    actions: ['s3:GetBucketLocation'],
    resources: [p.outputBucket.bucketArn, ...p.inventoryBucket ? [p.inventoryBucket.bucketArn] : []],
  }));
  p.outputBucket.encryptionKey?.grant(role, 'kms:Decrypt', 'kms:GenerateDataKey');
  p.inventoryBucket?.encryptionKey?.grant(role, 'kms:Decrypt');
  const reason = 'Batch Operations reads its job manifests and writes its reports under these key prefixes only, which needs a trailing wildcard in the object ARN. No action is a wildcard.';
  for (const arn of [manifests, reports, ...inventory ? [inventory] : []]) acknowledgeWildcardResource(role, arn, reason);
  return role;
}
