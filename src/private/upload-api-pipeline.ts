import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { IConstruct } from 'constructs';
import type { InputFormat } from '../contract';

/** What an upload API needs of its pipeline's settings, beyond the pipeline's public attributes. */
export interface PipelineForApi {
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  /** The processor's PIPELINE_CONFIG document (a JSON string, bucket names as tokens). */
  readonly pipelineConfig: string;
  /** True when the pipeline created the input bucket (so the API may add CORS rules to it). */
  readonly inputBucketCreated: boolean;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly inputSuffixes: readonly string[];
  readonly acceptedFormats: readonly InputFormat[];
  readonly maxInputBytes: number;
  readonly memorySizeMb: number;
  readonly concurrency: number;
  readonly rulePrefixes?: readonly string[];
  readonly alarmTopic?: sns.ITopic;
}

const pipelines = new WeakMap<IConstruct, PipelineForApi>();

/** Records a pipeline's settings for the upload APIs made on it. */
export function describePipelineForApi(pipeline: IConstruct, d: PipelineForApi): void {
  pipelines.set(pipeline, d);
}

/** The settings of `pipeline`, as recorded by its constructor. */
export function pipelineForApi(pipeline: IConstruct): PipelineForApi {
  const d = pipelines.get(pipeline);
  if (!d) throw new Error(`${pipeline.node.path} is not an ImagePreprocessingPipeline, or is not constructed yet`);
  return d;
}
