import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Acknowledges an AwsSolutions-IAM5 finding for one wildcard resource ARN on `scope`.
 *
 * cdk-nag names each IAM5 finding after the resource it flags, flattened from its CloudFormation
 * form (`Ref` to `<Id>`, `Fn::GetAtt` to `<Id.Attr>`, `Fn::Join` joined), so the acknowledgement
 * must name it the same way to cover exactly that resource and nothing else.
 */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  const finding = flattenReference(Stack.of(scope).resolve(arn));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${finding}]`, reason });
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
