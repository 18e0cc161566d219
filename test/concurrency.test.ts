/**
 * The `concurrency` prop: records of a queue batch processed at once by one invocation.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BASELINE_MEMORY_MB } from '../lambda-src/transform';
import { ImagePreprocessingPipeline, ImagePreprocessingPipelineProps, TriggerMode } from '../src';
import { HANDLER_BASELINE_MB } from '../src/contract';

function synth(props: ImagePreprocessingPipelineProps = {}) {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images', props);
  return { stack, pipeline, template: Template.fromStack(stack) };
}

/** The processor's PIPELINE_CONFIG, its references replaced by REF. */
function configDoc(stack: Stack, pipeline: ImagePreprocessingPipeline): Record<string, unknown> {
  const resolved = stack.resolve(pipeline.pipelineConfig);
  const text = typeof resolved === 'string' ? resolved
    : (resolved['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'REF')).join('');
  return JSON.parse(text);
}

describe('concurrency', () => {
  test('by default one record at a time', () => {
    const { stack, pipeline } = synth({ trigger: TriggerMode.QUEUE });
    expect(configDoc(stack, pipeline).concurrency).toBe(1);
  });

  test('the prop reaches the handler\'s config', () => {
    const { stack, pipeline } = synth({ trigger: TriggerMode.QUEUE, concurrency: 5, memorySize: 512 });
    expect(configDoc(stack, pipeline).concurrency).toBe(5);
  });

  test.each<[ImagePreprocessingPipelineProps, RegExp]>([
    [{ concurrency: 2 }, /concurrency applies only with trigger TriggerMode.QUEUE/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 0 }, /concurrency must be an integer from 1 to 64, got 0/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 1.5 }, /concurrency must be an integer from 1 to 64, got 1.5/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 65 }, /concurrency must be an integer from 1 to 64, got 65/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 6, queueBatchSize: 5 }, /concurrency \(6\) must not exceed queueBatchSize \(5\)/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 2, memorySize: 128 }, /concurrency 2 needs a memorySize of at least 156 MB .* got 128/],
    [{ trigger: TriggerMode.QUEUE, concurrency: 10, memorySize: 256 }, /concurrency 10 needs a memorySize of at least 380 MB/],
  ])('%j is refused at synth, naming the prop', (props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('the memory rule holds at its edge: 100 MB plus 28 per record', () => {
    expect(() => synth({ trigger: TriggerMode.QUEUE, concurrency: 10, memorySize: 380 })).not.toThrow();
    expect(() => synth({ trigger: TriggerMode.QUEUE, concurrency: 10, memorySize: 379 })).toThrow(/at least 380 MB/);
  });

  test('the contract\'s handler baseline is the handler\'s measured one', () => {
    expect(HANDLER_BASELINE_MB).toBe(BASELINE_MEMORY_MB);
  });
});
