/**
 * Lambda entry point: S3 ObjectCreated notifications in, variants or failure records out.
 * Everything is set up at init; a bad PIPELINE_CONFIG stops the function there with one log line.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { handleBatchEvent, isBatchEvent } from './batch-operations';
import { ConfigError, parsePipelineConfig, type PipelineConfig } from './config';
import { LabelDetector, newRekognitionClient } from './labels';
import { ImageProcessor, isSqsEvent, jsonLogger } from './processor';
import { configureSharp } from './transform';
import { CONFIG_ENV_VAR, recordMemoryBudget } from '../src/contract';

function init(): ImageProcessor {
  let config: PipelineConfig;
  try {
    config = parsePipelineConfig(process.env[CONFIG_ENV_VAR]);
  } catch (e) {
    if (e instanceof ConfigError) {
      jsonLogger({ level: 'FATAL', message: e.message });
    }
    throw e;
  }
  // Lambda gives one vCPU per 1769 MB: more libvips threads than that only contend.
  const memory = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? 1769);
  configureSharp(Math.ceil(memory / 1769));

  // Each request resolves the same middleware stack: resolve it once per command class.
  const cacheMiddleware = true;
  // The local mode points the clients at its own endpoint.
  const endpoint = process.env.PIPELINE_S3_ENDPOINT;
  // Downloads are not checked against a stored CRC (a CRC over every input byte, about a millisecond
  // of CPU per 700 KB measured in bench/): TLS protects them in transit and a damaged image fails to
  // decode. Uploads keep their request checksum (a few KB; buckets with Object Lock require one).
  const responseChecksumValidation = 'WHEN_REQUIRED';
  const s3 = new S3Client(endpoint
    ? { cacheMiddleware, endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation }
    : { cacheMiddleware, responseChecksumValidation });
  const eventsEndpoint = process.env.PIPELINE_EVENTS_ENDPOINT;
  const events = config.events
    ? new EventBridgeClient(eventsEndpoint ? { cacheMiddleware, endpoint: eventsEndpoint } : { cacheMiddleware })
    : undefined;
  // Labels need Amazon Rekognition, which the local mode has not: none there (the processor says so).
  const labels = config.labels && !endpoint ? new LabelDetector(config.labels, () => newRekognitionClient({ cacheMiddleware })) : undefined;
  // Records processed at once share what the function spares for images.
  const budget = recordMemoryBudget(memory, config.concurrency);
  return new ImageProcessor(s3, config, jsonLogger, budget, events, { labels });
}

const processor = init();

export const handler = async (event: unknown) => {
  if (isBatchEvent(event)) {
    // S3 Batch Operations: one result per task, in the job's completion report.
    return handleBatchEvent(processor, event, processor.inputBucket);
  }
  if (isSqsEvent(event)) {
    // Queue mode: partial batch responses, so only the failed messages come back.
    return processor.handleSqsEvent(event);
  }
  const outcomes = await processor.handleEvent(event);
  return {
    processed: outcomes.filter((o) => o.status === 'processed').length,
    rejected: outcomes.filter((o) => o.status === 'rejected').length,
    skipped: outcomes.filter((o) => o.status === 'skipped').length,
    outcomes,
  };
};
