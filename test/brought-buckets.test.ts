/**
 * Buckets you bring: one bucket given twice (by reference, by name, by ARN, through tokens), two
 * pipelines on one bucket, and buckets encrypted with their own KMS key.
 */
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps } from '../src';

const SAME_BUCKET = /inputBucket and outputBucket are the same bucket.*would trigger the processor again/;

function cfnResources(stack: Stack): number {
  return stack.node.findAll().filter(CfnResource.isCfnResource).length;
}

/** Makes a pipeline from props that may use the stack; expects it to be refused before anything is made. */
function expectRefused(make: (stack: Stack) => ImagePreprocessingPipelineProps, message: RegExp) {
  const stack = new Stack(new App(), 'Test');
  const props = make(stack);
  const before = cfnResources(stack);
  expect(() => new ImagePreprocessingPipeline(stack, 'Images', props)).toThrow(message);
  expect(cfnResources(stack)).toBe(before);
}

describe('one bucket given as both input and output', () => {
  test.each<[string, (stack: Stack) => ImagePreprocessingPipelineProps]>([
    ['the bucket and fromBucketName of its name', (stack) => {
      const b = new s3.Bucket(stack, 'Both');
      return { inputBucket: b, outputBucket: s3.Bucket.fromBucketName(stack, 'X', b.bucketName) };
    }],
    ['fromBucketArn of its ARN and the bucket', (stack) => {
      const b = new s3.Bucket(stack, 'Both');
      return { inputBucket: s3.Bucket.fromBucketArn(stack, 'Y', b.bucketArn), outputBucket: b };
    }],
    ['fromBucketName of its name and fromBucketArn of its ARN', (stack) => {
      const b = new s3.Bucket(stack, 'Both');
      return { inputBucket: s3.Bucket.fromBucketName(stack, 'X', b.bucketName), outputBucket: s3.Bucket.fromBucketArn(stack, 'Y', b.bucketArn) };
    }],
    ['fromBucketArn of the ARN of fromBucketName, and the bucket', (stack) => {
      const b = new s3.Bucket(stack, 'Both');
      const byName = s3.Bucket.fromBucketName(stack, 'X', b.bucketName);
      return { inputBucket: s3.Bucket.fromBucketArn(stack, 'Y', byName.bucketArn), outputBucket: b };
    }],
    ['literal names, by name and by ARN', (stack) => ({
      inputBucket: s3.Bucket.fromBucketName(stack, 'X', 'photos'),
      outputBucket: s3.Bucket.fromBucketArn(stack, 'Y', 'arn:aws:s3:::photos'),
    })],
    ['a bucket with a literal name, and that name', (stack) => ({
      inputBucket: new s3.Bucket(stack, 'Named', { bucketName: 'photos' }),
      outputBucket: s3.Bucket.fromBucketName(stack, 'X', 'photos'),
    })],
  ])('%s, with overlapping prefixes, is refused', (_what, make) => {
    expectRefused((stack) => ({ ...make(stack), inputPrefix: 'in/', outputPrefix: 'in/out/' }), SAME_BUCKET);
    expectRefused(make, SAME_BUCKET);
  });

  test('through tokens, with prefixes that do not overlap, is allowed', () => {
    const stack = new Stack(new App(), 'Test');
    const b = new s3.Bucket(stack, 'Both');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', {
      inputBucket: s3.Bucket.fromBucketName(stack, 'X', b.bucketName),
      outputBucket: s3.Bucket.fromBucketArn(stack, 'Y', b.bucketArn),
      inputPrefix: 'in/',
      outputPrefix: 'out/',
    })).not.toThrow();
  });

  test('two buckets are two buckets, through tokens too', () => {
    const stack = new Stack(new App(), 'Test');
    const a = new s3.Bucket(stack, 'A');
    const b = new s3.Bucket(stack, 'B');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', {
      inputBucket: s3.Bucket.fromBucketName(stack, 'X', a.bucketName),
      outputBucket: s3.Bucket.fromBucketArn(stack, 'Y', b.bucketArn),
    })).not.toThrow();
  });

  test('buckets of one logical ID in two stacks are two buckets', () => {
    const app = new App();
    const here = new Stack(app, 'Here');
    const there = new Stack(app, 'There');
    const input = new s3.Bucket(here, 'Images');
    const output = new s3.Bucket(there, 'Images');
    expect(here.getLogicalId(input.node.defaultChild as s3.CfnBucket)).toBe(there.getLogicalId(output.node.defaultChild as s3.CfnBucket));
    expect(() => new ImagePreprocessingPipeline(here, 'Pipeline', { inputBucket: input, outputBucket: output })).not.toThrow();
  });
});

describe('two pipelines on one input bucket', () => {
  const OVERLAP = /inputBucket is also the input bucket of [^,]*\/First.*notifications of [^ ]*\/Second .* overlap: S3 refuses/;

  function pair(first: Partial<ImagePreprocessingPipelineProps>, second: Partial<ImagePreprocessingPipelineProps>,
    secondBucket?: (stack: Stack, bucket: s3.IBucket) => s3.IBucket) {
    const app = new App();
    const stack = new Stack(app, 'Test');
    const bucket = new s3.Bucket(stack, 'Uploads');
    new ImagePreprocessingPipeline(stack, 'First', { inputBucket: bucket, ...first });
    return () => new ImagePreprocessingPipeline(stack, 'Second', { inputBucket: secondBucket?.(stack, bucket) ?? bucket, ...second });
  }

  test.each<[string, Partial<ImagePreprocessingPipelineProps>, Partial<ImagePreprocessingPipelineProps>]>([
    ['no prefixes', {}, {}],
    ['a prefix and none', { inputPrefix: 'uploads/' }, {}],
    ['one prefix under the other', { inputPrefix: 'uploads/' }, { inputPrefix: 'uploads/cats/' }],
    ['one prefix, one suffix', { inputPrefix: 'uploads/' }, { inputSuffixes: ['.png'] }],
    ['one prefix, suffixes of which one ends with the other', { inputPrefix: 'u/', inputSuffixes: ['.jpg'] }, { inputPrefix: 'u/', inputSuffixes: ['.png', 'jpg'] }],
  ])('with %s is refused, naming both', (_what, first, second) => {
    expect(pair(first, second)).toThrow(OVERLAP);
  });

  test.each<[string, Partial<ImagePreprocessingPipelineProps>, Partial<ImagePreprocessingPipelineProps>]>([
    ['prefixes that do not overlap', { inputPrefix: 'cats/' }, { inputPrefix: 'dogs/' }],
    ['one prefix and suffixes that do not overlap', { inputPrefix: 'u/', inputSuffixes: ['.jpg'] }, { inputPrefix: 'u/', inputSuffixes: ['.png', '.webp'] }],
  ])('with %s is allowed', (_what, first, second) => {
    expect(pair(first, second)).not.toThrow();
  });

  test('the bucket given by name to the second, from another stack of the app, is refused', () => {
    const app = new App();
    const first = new ImagePreprocessingPipeline(new Stack(app, 'One'), 'First');
    const other = new Stack(app, 'Two');
    expect(() => new ImagePreprocessingPipeline(other, 'Second', {
      inputBucket: s3.Bucket.fromBucketName(other, 'Theirs', first.inputBucket.bucketName),
    })).toThrow(/inputBucket is also the input bucket of One\/First, and the ObjectCreated notifications of Two\/Second \(inputPrefix "", any suffix\) and of One\/First \(inputPrefix "", any suffix\) overlap/);
  });

  test('an existing bucket by literal name in two stacks of the app is refused', () => {
    const app = new App();
    const one = new Stack(app, 'One');
    const two = new Stack(app, 'Two');
    new ImagePreprocessingPipeline(one, 'First', { inputBucket: s3.Bucket.fromBucketName(one, 'In', 'shared-uploads'), inputPrefix: 'a/' });
    expect(() => new ImagePreprocessingPipeline(two, 'Second', {
      inputBucket: s3.Bucket.fromBucketArn(two, 'In', 'arn:aws:s3:::shared-uploads'), inputPrefix: 'a/b/',
    })).toThrow(/input bucket of One\/First/);
  });

  test('pipelines of two apps, or on two buckets of one logical ID in two stacks, do not meet', () => {
    const bucketFor = (stack: Stack) => new s3.Bucket(stack, 'Uploads');
    const a = new Stack(new App(), 'Test');
    new ImagePreprocessingPipeline(a, 'First', { inputBucket: s3.Bucket.fromBucketName(a, 'In', 'shared-uploads') });
    const b = new Stack(new App(), 'Test');
    expect(() => new ImagePreprocessingPipeline(b, 'Second', { inputBucket: s3.Bucket.fromBucketName(b, 'In', 'shared-uploads') })).not.toThrow();

    const app = new App();
    const dev = new Stack(app, 'Dev');
    const prod = new Stack(app, 'Prod');
    new ImagePreprocessingPipeline(dev, 'Images', { inputBucket: bucketFor(dev) });
    expect(() => new ImagePreprocessingPipeline(prod, 'Images', { inputBucket: bucketFor(prod) })).not.toThrow();
  });

  test('suffixes of one pipeline that overlap are refused: each is a notification of its own', () => {
    expectRefused(() => ({ inputSuffixes: ['.jpg', 'jpg'] }), /inputSuffixes ".jpg" and "jpg" overlap/);
    expectRefused(() => ({ inputSuffixes: ['.png', '.png'] }), /inputSuffixes ".png" and ".png" overlap/);
  });
});

describe('buckets encrypted with their own KMS key', () => {
  const INPUT_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/11111111-1111-1111-1111-111111111111';
  const OUTPUT_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/22222222-2222-2222-2222-222222222222';

  function kmsStatements(template: Template): { Action: string | string[]; Resource: unknown }[] {
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^ImagesProcessorRole') }] } });
    return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((s: { Action: string | string[] }) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('kms:')));
  }

  test('fromBucketAttributes with the encryptionKey: the processor may decrypt uploads and encrypt outputs with each key', () => {
    // GIVEN
    const stack = new Stack(new App(), 'Test');
    const inputBucket = s3.Bucket.fromBucketAttributes(stack, 'In', {
      bucketName: 'their-uploads', encryptionKey: kms.Key.fromKeyArn(stack, 'InKey', INPUT_KEY),
    });
    const outputBucket = s3.Bucket.fromBucketAttributes(stack, 'Out', {
      bucketName: 'their-derived', encryptionKey: kms.Key.fromKeyArn(stack, 'OutKey', OUTPUT_KEY),
    });

    // WHEN
    new ImagePreprocessingPipeline(stack, 'Images', { inputBucket, outputBucket });

    // THEN
    expect(kmsStatements(Template.fromStack(stack))).toEqual(expect.arrayContaining([
      expect.objectContaining({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: INPUT_KEY }),
      expect.objectContaining({ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: OUTPUT_KEY }),
    ]));
    expect(kmsStatements(Template.fromStack(stack))).toHaveLength(2);
  });

  test('fromBucketName knows of no key, so no KMS action is granted: use fromBucketAttributes for a bucket with its own key', () => {
    const stack = new Stack(new App(), 'Test');
    new ImagePreprocessingPipeline(stack, 'Images', {
      inputBucket: s3.Bucket.fromBucketName(stack, 'In', 'their-uploads'),
      outputBucket: s3.Bucket.fromBucketName(stack, 'Out', 'their-derived'),
    });
    expect(kmsStatements(Template.fromStack(stack))).toEqual([]);
  });
});
