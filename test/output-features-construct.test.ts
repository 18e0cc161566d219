/**
 * The construct's side of the per-variant output features: the props reach PIPELINE_CONFIG, rules
 * become one S3 notification per prefix (and suffix), and bad props fail at synth naming the prop.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  CropPosition, ImageFit, ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, LargerOutput, OutputFormat, TriggerMode,
} from '../src';

function synth(props: ImagePreprocessingPipelineProps = {}) {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', props);
  return { stack, pipeline, template: Template.fromStack(stack) };
}

interface Filter { Key: { FilterRules: { Name: string; Value: string }[] } }
interface NotificationConfig { Events: string[]; Filter?: Filter }

/** The PIPELINE_CONFIG document, each reference (the bucket names) replaced by a placeholder. */
function pipelineDocument(stack: Stack, pipeline: ImagePreprocessingPipeline) {
  const resolved = stack.resolve(pipeline.pipelineConfig);
  if (typeof resolved === 'string') return JSON.parse(resolved);
  const parts = resolved['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : '<ref>')).join(''));
}

function notifications(template: Template): { lambda: NotificationConfig[]; queue: NotificationConfig[] } {
  const n = Object.values(template.findResources('Custom::S3BucketNotifications'))[0].Properties.NotificationConfiguration;
  return { lambda: n.LambdaFunctionConfigurations ?? [], queue: n.QueueConfigurations ?? [] };
}

/** Each ObjectCreated configuration's filter, as `prefix|suffix`. */
function createdFilters(configs: NotificationConfig[]): string[] {
  return configs.filter((c) => c.Events.includes('s3:ObjectCreated:*')).map((c) => {
    const rules = c.Filter?.Key.FilterRules ?? [];
    const value = (name: string) => rules.find((r) => r.Name.toLowerCase() === name)?.Value ?? '';
    return `${value('prefix')}|${value('suffix')}`;
  }).sort();
}

const avatars = { prefix: 'avatars/', variants: [64, 128, 256].map((size) => ({ name: `s${size}`, width: size, height: size })) };
const products = {
  prefix: 'products/',
  variants: [
    { name: 'large', width: 1200, format: OutputFormat.WEBP },
    { name: 'thumb', width: 300, height: 300, position: CropPosition.ATTENTION },
  ],
};

describe('rules by prefix', () => {
  test('one ObjectCreated notification per rule prefix, under the input prefix', () => {
    const { template } = synth({ inputPrefix: 'uploads/', rules: [avatars, products] });
    expect(createdFilters(notifications(template).lambda)).toEqual(['uploads/avatars/|', 'uploads/products/|']);
  });

  test('one per rule prefix and suffix, in queue mode too', () => {
    const { template } = synth({ rules: [avatars, products], inputSuffixes: ['.jpg', '.png'], trigger: TriggerMode.QUEUE });
    const n = notifications(template);
    expect(n.lambda).toEqual([]);
    expect(createdFilters(n.queue)).toEqual(['avatars/|.jpg', 'avatars/|.png', 'products/|.jpg', 'products/|.png']);
  });

  test('with processDeletes, the ObjectRemoved notifications follow the rules\' prefixes too', () => {
    const { template } = synth({ inputPrefix: 'uploads/', rules: [avatars, products], processDeletes: true });
    const removed = notifications(template).lambda.filter((c) => c.Events.includes('s3:ObjectRemoved:*'))
      .map((c) => c.Filter?.Key.FilterRules.find((r) => r.Name.toLowerCase() === 'prefix')?.Value).sort();
    expect(removed).toEqual(['uploads/avatars/', 'uploads/products/']);
  });

  test('the document holds the rules, every default filled in, and no variants of its own', () => {
    const { pipeline, stack } = synth({ rules: [avatars, products] });
    const doc = pipelineDocument(stack, pipeline);
    expect(doc.variants).toEqual([]);
    expect(doc.rules.map((r: { prefix: string; variants: { name: string; fit: string; format: string; position?: string }[] }) =>
      [r.prefix, r.variants.map((v) => `${v.name}:${v.fit}:${v.format}:${v.position ?? '-'}`)])).toEqual([
      ['avatars/', ['s64:cover:jpeg:-', 's128:cover:jpeg:-', 's256:cover:jpeg:-']],
      ['products/', ['large:cover:webp:-', 'thumb:cover:jpeg:attention']],
    ]);
  });

  test.each([
    [{ rules: [avatars, { ...products, prefix: 'avatars/big/' }] }, /rules\[0\]\.prefix "avatars\/" and rules\[1\]\.prefix "avatars\/big\/" overlap/],
    [{ rules: [avatars], variants: [{ name: 'x' }] }, /variants and rules are exclusive/],
    [{ rules: [{ prefix: '', variants: [{ name: 'a' }] }, avatars] }, /an empty prefix overlaps every other/],
  ])('refuses overlapping or conflicting rules at synth', (props, pattern) => {
    expect(() => synth(props as ImagePreprocessingPipelineProps)).toThrow(pattern);
  });

  test('a rule prefix that overlaps the output prefix of a shared bucket is refused', () => {
    const stack = new Stack(new App(), 'Test');
    const bucket = new s3.Bucket(stack, 'B');
    expect(() => new ImagePreprocessingPipeline(stack, 'Images', {
      inputBucket: bucket, outputBucket: bucket, outputPrefix: 'out/', rules: [avatars, { ...products, prefix: 'out/x/' }],
    })).toThrow(/inputPrefix \("out\/x\/"\) and outputPrefix \("out\/"\) overlap/);
  });

  test('rules of another pipeline on the same bucket that overlap are refused', () => {
    const stack = new Stack(new App(), 'Test');
    const bucket = new s3.Bucket(stack, 'B');
    new ImagePreprocessingPipeline(stack, 'One', { inputBucket: bucket, rules: [avatars] });
    expect(() => new ImagePreprocessingPipeline(stack, 'Two', { inputBucket: bucket, inputPrefix: 'avatars/big/', variants: [{ name: 'x' }] }))
      .toThrow(/the ObjectCreated notifications of Test\/Two \(inputPrefix "avatars\/big\/", any suffix\) and of Test\/One \(inputPrefix "avatars\/"/);
  });
});

describe('variant output props', () => {
  test('reach the document as given; unset ones are left out', () => {
    const { pipeline, stack } = synth({
      variants: [{
        name: 'card',
        width: 300,
        height: 200,
        key: '{dir}/{name}_{width}x{height}.{ext}',
        position: CropPosition.NORTH,
        cacheControl: 'public, max-age=31536000, immutable',
        contentDisposition: 'inline',
        metadata: { team: 'photos' },
        copyUserMetadata: true,
        whenLarger: LargerOutput.KEEP_SOURCE,
      }, { name: 'anim', width: 100, format: OutputFormat.GIF, animated: true }, { name: 'plain' }],
    });
    const doc = pipelineDocument(stack, pipeline);
    expect(doc.variants[0]).toMatchObject({
      key: '{dir}/{name}_{width}x{height}.{ext}',
      position: 'north',
      cacheControl: 'public, max-age=31536000, immutable',
      contentDisposition: 'inline',
      metadata: { team: 'photos' },
      copyUserMetadata: true,
      whenLarger: 'keep-source',
    });
    expect(doc.variants[1]).toMatchObject({ format: 'gif', animated: true });
    expect(Object.keys(doc.variants[2]).sort()).toEqual(['background', 'fit', 'format', 'grayscale', 'name', 'withoutEnlargement']);
  });

  test.each([
    [{ name: 'v', key: '{variant}/{name}.{ext}' }, /variants\[0\]\.key "\{variant\}\/\{name\}\.\{ext\}" must hold \{path\}, or \{dir\} and \{name\}/],
    [{ name: 'v', width: 10, height: 10, fit: ImageFit.FILL, position: CropPosition.NORTH }, /variants\[0\]\.position applies only with fit cover or contain/],
    [{ name: 'v', animated: true }, /variants\[0\]\.animated needs a format that keeps frames/],
    [{ name: 'v', format: OutputFormat.WEBP, animated: true, position: CropPosition.ENTROPY }, /cannot crop an animation/],
    [{ name: 'v', metadata: { 'source-key': 'x' } }, /variants\[0\]\.metadata key "source-key" starts with "source-"/],
    [{ name: 'v', cacheControl: 'max-age=60\n' }, /variants\[0\]\.cacheControl must be 1 to 1024 printable US-ASCII/],
  ])('refuses %j at synth, naming the prop', (variant, pattern) => {
    expect(() => synth({ variants: [variant] })).toThrow(pattern);
  });

  test('two variants writing one key are refused at synth', () => {
    expect(() => synth({ variants: [{ name: 'a', key: '{path}.{ext}' }, { name: 'b', key: '{path}.{ext}' }] }))
      .toThrow(/variants\[1\] and variants\[0\] would write one input to the same output key/);
  });
});
