/**
 * The upload API's half of the contract between the construct and the code that runs: the
 * document in the API functions' `UPLOAD_API_CONFIG` environment variable, its defaults and limits,
 * the routes, and the content types uploads may have. The functions also read the pipeline's own
 * `PIPELINE_CONFIG`, so that they compute output keys exactly as the processor does.
 *
 * Pure TypeScript that imports only the pipeline's contract (itself without imports), so that jsii
 * compiles it with the construct and esbuild bundles it into the API's function and the local mode.
 *
 * @internal
 */
import { maxDownloadBytes, recordMemoryBudget } from '../contract';

/** The environment variable that carries the API's document to its functions. */
export const UPLOAD_API_ENV_VAR = 'UPLOAD_API_CONFIG';

/** The folder, under the input prefix, of the uploads the API hands out. */
export const UPLOAD_FOLDER = 'uploads/';

/** The routes, as API Gateway names them (`<method> <path>`). */
export const ROUTES = {
  createUpload: 'POST /uploads',
  uploadState: 'GET /uploads/{id}',
} as const;

/**
 * Where the local mode serves the API and its web page, on the S3 endpoint's own port: a path that
 * no bucket can have (bucket names start with a lowercase letter or a digit), so that no S3
 * request is ever taken for an API request.
 */
export const LOCAL_BASE_PATH = '/_pipeline/';

/** The document in `UPLOAD_API_CONFIG`. */
export interface UploadApiConfig {
  /** The largest upload, in bytes: the URL is signed for the exact length the client declares, at most this. */
  readonly maxUploadBytes: number;
  /** How long a presigned upload URL is valid, in seconds. */
  readonly uploadUrlExpirySeconds: number;
  /** How long a presigned download URL of an output is valid, in seconds. */
  readonly downloadUrlExpirySeconds: number;
}

export const UPLOAD_API_DEFAULTS = {
  uploadUrlExpirySeconds: 5 * 60,
  downloadUrlExpirySeconds: 15 * 60,
  /** Steady requests per second the API's stage takes, all routes together. */
  throttleRateLimit: 10,
  /** Requests the stage takes at once above the steady rate. */
  throttleBurstLimit: 20,
  /** The p99 latency, in milliseconds, over which the latency alarm fires. */
  latencyAlarmThresholdMs: 3000,
  /** 5xx answers in 5 minutes that raise the server-error alarm. */
  serverErrorsAlarmThreshold: 1,
} as const;

export const UPLOAD_API_LIMITS = {
  /** Minutes, as the brief of a presigned upload has it; at most an hour. */
  urlExpirySeconds: { min: 60, max: 60 * 60 },
  throttleRateLimit: { min: 1, max: 10_000 },
  throttleBurstLimit: { min: 1, max: 5_000 },
  latencyAlarmThresholdMs: { min: 1, max: 30_000 },
  serverErrorsAlarmThreshold: { min: 1, max: 1_000_000 },
} as const;

/** The content type an upload of each input format is signed with, and the extension of its key. */
export const UPLOAD_TYPES = {
  jpeg: { contentType: 'image/jpeg', extension: 'jpg' },
  png: { contentType: 'image/png', extension: 'png' },
  webp: { contentType: 'image/webp', extension: 'webp' },
  gif: { contentType: 'image/gif', extension: 'gif' },
  tiff: { contentType: 'image/tiff', extension: 'tif' },
  avif: { contentType: 'image/avif', extension: 'avif' },
  svg: { contentType: 'image/svg+xml', extension: 'svg' },
} as const;

/**
 * What the handler downloads at most with `memoryMb` of memory shared by `concurrency` records,
 * by the pipeline contract's own rule. An upload larger than this would be rejected after it was
 * made, so the API refuses to sign it.
 */
export function handlerMaxBytes(maxInputBytes: number, memoryMb: number, concurrency = 1): number {
  return maxDownloadBytes(maxInputBytes, recordMemoryBudget(memoryMb, concurrency));
}
