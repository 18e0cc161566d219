import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface ProcessorRoleProps {
  readonly logGroup: logs.ILogGroup;
  readonly inputBucket: s3.IBucket;
  readonly inputPrefix: string;
  readonly outputBucket: s3.IBucket;
  readonly outputPrefix: string;
  readonly eventBus?: events.IEventBus;
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
  p.inputBucket.encryptionKey?.grant(role, 'kms:Decrypt');
  p.outputBucket.encryptionKey?.grant(role, 'kms:GenerateDataKey');
  return role;
}
