import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';

/** The construct id aws-cdk-lib gives its bucket-notifications handler (aws-s3/lib/notifications-resource). */
const BUCKET_NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

/** What a pipeline made that AwsSolutions checks. */
export interface PipelineFindings {
  /** The ids, under the pipeline, of the buckets it created. */
  readonly bucketIds: string[];
  readonly failureQueue: sqs.IQueue;
  readonly role: iam.IRole;
  readonly inputBucket: s3.IBucket;
  readonly inputPrefix: string;
  readonly outputBucket: s3.IBucket;
  readonly outputPrefix: string;
}

/**
 * AwsSolutions findings that are by design, each with its reason, for both lines of cdk-nag: as
 * acknowledgements of aws-cdk-lib's Validations (cdk-nag 3) and as the `cdk_nag` metadata of the
 * CloudFormation resources (cdk-nag 2's suppressions), without a dependency on either.
 */
export function acknowledgeFindings(pipeline: IConstruct, f: PipelineFindings): void {
  for (const id of f.bucketIds) {
    const bucket = pipeline.node.tryFindChild(id);
    if (bucket) {
      acknowledge(bucket, 'AwsSolutions-S1',
        'Server access logging needs a log bucket whose retention is the owner\'s policy; pass your own inputBucket/outputBucket with logging to have it.');
    }
  }
  acknowledge(f.failureQueue, 'AwsSolutions-SQS3',
    'This queue is itself the failure destination of the processor; a second dead-letter queue behind it would only move the same messages again.');
  const prefixReason = 'Object-level S3 access is scoped to the configured key prefix, which needs a trailing wildcard in the object ARN. No action is a wildcard.';
  acknowledgeWildcardResource(f.role, f.inputBucket.arnForObjects(`${f.inputPrefix}*`), prefixReason);
  acknowledgeWildcardResource(f.role, f.outputBucket.arnForObjects(`${f.outputPrefix}*`), prefixReason);
  // aws-cdk-lib's one-per-stack function that sets bucket notifications at deploy time
  const notificationsHandler = Stack.of(pipeline).node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER_ID);
  if (notificationsHandler) {
    acknowledge(notificationsHandler, 'AwsSolutions-IAM4',
      'aws-cdk-lib\'s bucket-notifications handler uses AWSLambdaBasicExecutionRole for its logs only; it is a deploy-time custom resource whose role this library does not own.',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole');
  }
}

/**
 * Acknowledges an AwsSolutions-IAM5 finding for one wildcard resource ARN on `scope`.
 *
 * cdk-nag names each IAM5 finding after the resource it flags, flattened from its CloudFormation
 * form (`Ref` to `<Id>`, `Fn::GetAtt` to `<Id.Attr>`, `Fn::Join` joined), so the acknowledgement
 * must name it the same way to cover exactly that resource and nothing else.
 */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  const finding = flattenReference(Stack.of(scope).resolve(arn));
  acknowledge(scope, 'AwsSolutions-IAM5', reason, `Resource::${finding}`);
}

/**
 * Acknowledges rule `id` (for one finding of it, `appliesTo`, or all) on `scope`: cdk-nag 3 reads
 * the acknowledgement, cdk-nag 2 the `cdk_nag.rules_to_suppress` metadata of every CloudFormation
 * resource in `scope`, which this adds to (keeping suppressions already there).
 */
export function acknowledge(scope: IConstruct, id: string, reason: string, appliesTo?: string): void {
  try {
    Validations.of(scope).acknowledge({ id: appliesTo === undefined ? id : `${id}[${appliesTo}]`, reason });
  } catch (e) {
    // aws-cdk-lib before 2.270 refuses ids with more than one '::' (the IAM4 and IAM5 findings
    // name a policy or an ARN); cdk-nag 3 needs a newer aws-cdk-lib anyway, and cdk-nag 2 reads
    // the metadata below.
    const err = e as Error;
    if (err.name !== 'InvalidValidationId' && !/Invalid validation rule ID/.test(err.message ?? '')) throw e;
  }
  for (const c of scope.node.findAll()) {
    if (!CfnResource.isCfnResource(c)) continue;
    const existing = (c.getMetadata(NAG2_METADATA) ?? {}) as { rules_to_suppress?: Nag2Suppression[] };
    const rules = [...existing.rules_to_suppress ?? []];
    const same = rules.find((r) => r.id === id && r.applies_to !== undefined && appliesTo !== undefined);
    if (same && !same.applies_to!.includes(appliesTo!)) {
      same.applies_to!.push(appliesTo!);
    } else if (!same) {
      rules.push({ id, reason, ...(appliesTo === undefined ? {} : { applies_to: [appliesTo] }) });
    }
    c.addMetadata(NAG2_METADATA, { ...existing, rules_to_suppress: rules });
  }
}

/** The CloudFormation metadata key cdk-nag 2 reads its suppressions from. */
const NAG2_METADATA = 'cdk_nag';

interface Nag2Suppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: string[];
}

function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const o = node as Record<string, unknown>;
  if (o['Fn::Join']) {
    const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if (o['Fn::Sub']) return flattenReference(o['Fn::Sub']);
  if (o['Fn::GetAtt']) {
    const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  if (o['Fn::ImportValue']) return flattenReference(o['Fn::ImportValue']);
  if (o.Ref) return `<${flattenReference(o.Ref)}>`;
  return JSON.stringify(node);
}
