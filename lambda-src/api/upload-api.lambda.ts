/**
 * Lambda entry point of the upload API: API Gateway HTTP API events (payload format 2.0) in, JSON
 * out. Two functions run this bundle, each with a role for its route only: the upload function may
 * sign puts under the input bucket's upload folder, the status function may read the output bucket.
 * Everything is set up at init; a bad configuration stops the function there with one log line.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ApiError, UploadApi } from './upload-api';
import { CONFIG_ENV_VAR } from '../../src/contract';
import { ROUTES, UPLOAD_API_ENV_VAR, type UploadApiConfig } from '../../src/private/upload-api-contract';
import { parsePipelineConfig } from '../config';

/** One JSON log line (the processor's format; its module loads sharp, which this function has not). */
function jsonLogger(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

function init(): UploadApi {
  try {
    const api = JSON.parse(process.env[UPLOAD_API_ENV_VAR] ?? '') as UploadApiConfig;
    // Presigned URLs must not carry a checksum of an empty body: the client's body has its own.
    const s3 = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    return new UploadApi({ s3, pipeline: parsePipelineConfig(process.env[CONFIG_ENV_VAR]), api });
  } catch (e) {
    jsonLogger({ level: 'FATAL', message: `the upload API cannot start: ${(e as Error).message}` });
    throw e;
  }
}

const api = init();

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const body = event.body === undefined ? undefined
    : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    switch (event.routeKey) {
      case ROUTES.createUpload:
        return await api.answer(() => api.createUpload(body), 201);
      case ROUTES.uploadState:
        return await api.answer(() => api.uploadState(event.pathParameters?.id ?? ''), 200);
      default:
        return await api.answer(() => Promise.reject(new ApiError(404, 'NotFound', `no route ${event.routeKey}`)), 404);
    }
  } catch (e) {
    const err = e as Error;
    jsonLogger({ level: 'ERROR', message: 'request failed', route: event.routeKey, requestId: event.requestContext?.requestId, error: `${err.name}: ${err.message}` });
    return {
      statusCode: 500,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
      body: JSON.stringify({ error: 'InternalError', message: 'the request could not be answered; try again', requestId: event.requestContext?.requestId }),
    };
  }
};
