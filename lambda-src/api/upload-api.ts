/**
 * The upload API, over any S3 client: the same code answers API Gateway in Lambda
 * (`upload-api.lambda.ts`) and the local mode's endpoint (`../local/upload-api-server.ts`).
 *
 * - `POST /uploads` with `{ "contentType", "contentLength" }`: a presigned PUT for a new key that
 *   the API chooses (`<inputPrefix>uploads/<uuid>.<ext>`), signed for that content type, that exact
 *   length and `If-None-Match: *` (no overwrite), valid for minutes.
 * - `GET /uploads/{id}`: the upload's state, read from the output bucket alone: `pending`,
 *   `processed` (every variant's key, format, dimensions and a presigned GET) or `rejected` (the
 *   failure record's reason). Output keys are the processor's own (`../output-keys.ts`), and the
 *   newest upload of a key wins as it does in the processor (`../ordered-writes.ts`).
 */
import { randomUUID } from 'crypto';
import { GetObjectCommand, PutObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { OUTPUT_EXTENSIONS, SOURCE_METADATA, type InputFormat, type PipelineConfig, type VariantConfig } from '../../src/contract';
import { UPLOAD_FOLDER, UPLOAD_TYPES, type UploadApiConfig } from '../../src/private/upload-api-contract';
import { compareSequencers, keyHash } from '../ordered-writes';
import { failureKey, skipRecordKey, variantExtensions, variantKey, variantsFor } from '../output-keys';
import { HEADER_BYTES, imageSize, tiffIfdOffset, tiffIfdSize, type ImageSize } from './image-size';

export interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** What `POST /uploads` answers. */
export interface UploadGrant {
  readonly id: string;
  readonly key: string;
  /** How to send the file: PUT the file's bytes to `url` with these headers (and its length as Content-Length). */
  readonly upload: { readonly method: 'PUT'; readonly url: string; readonly headers: Record<string, string> };
  readonly expiresAt: string;
  /** The path of the upload's state, relative to the API's base URL. */
  readonly statusPath: string;
}

export interface OutputState {
  readonly variant: string;
  readonly key: string;
  readonly format: string;
  readonly contentType?: string;
  readonly width?: number;
  readonly height?: number;
  readonly bytes: number;
  readonly url: string;
  readonly urlExpiresAt: string;
}

/** What `GET /uploads/{id}` answers. */
export type UploadState =
  | { readonly id: string; readonly key: string; readonly status: 'pending' }
  | {
    readonly id: string;
    readonly key: string;
    readonly status: 'processed';
    readonly processedAt?: string;
    readonly outputs: OutputState[];
    /** The variants the never-larger guard skipped (`whenLarger`), when it skipped any. */
    readonly skipped?: string[];
  }
  | { readonly id: string; readonly key: string; readonly status: 'rejected'; readonly reason: string; readonly message: string; readonly rejectedAt?: string };

/** A request the API refuses: the status code, a machine-readable code, and a message for people. */
export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface UploadApiOptions {
  /** Reads the output bucket. */
  readonly s3: S3Client;
  /**
   * Signs the URLs. It must not add checksums to what it signs (`requestChecksumCalculation:
   * 'WHEN_REQUIRED'`), or every upload's checksum would have to be that of an empty body.
   * @default - `s3`
   */
  readonly presigner?: S3Client;
  readonly pipeline: PipelineConfig;
  readonly api: UploadApiConfig;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default - a random UUID */
  readonly newId?: () => string;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const EXTENSION_FORMAT: Record<string, string> = Object.fromEntries(Object.entries(OUTPUT_EXTENSIONS).map(([f, e]) => [e, f]));

export class UploadApi {
  private readonly presigner: S3Client;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly idPattern: RegExp;

  constructor(private readonly o: UploadApiOptions) {
    if (!o.pipeline.inputBucket) throw new Error('the pipeline configuration names no inputBucket: the upload API cannot sign uploads');
    this.presigner = o.presigner ?? o.s3;
    this.now = o.now ?? Date.now;
    this.newId = o.newId ?? randomUUID;
    const extensions = Object.values(UPLOAD_TYPES).map((t) => t.extension).join('|');
    this.idPattern = new RegExp(`^${UUID}\\.(?:${extensions})$`);
  }

  /** The content types uploads may have: those of the pipeline's accepted formats. */
  get acceptedContentTypes(): string[] {
    return this.o.pipeline.acceptedFormats.map((f: InputFormat) => UPLOAD_TYPES[f].contentType);
  }

  /** Answers `method path` (the path relative to the API's base, such as `/uploads/<id>`); a 404 for any other route. */
  async handle(method: string, path: string, body: string | undefined): Promise<ApiResponse> {
    const state = /^\/uploads\/([^/]*)$/.exec(path);
    if (path === '/uploads' && method === 'POST') return this.answer(() => this.createUpload(body), 201);
    if (state && method === 'GET') return this.answer(() => this.uploadState(safeDecode(state[1])), 200);
    if (path === '/uploads' || state) {
      return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed on ${path}` }, { Allow: state ? 'GET' : 'POST' });
    }
    return json(404, { error: 'NotFound', message: `no route ${method} ${path}: the API has POST /uploads and GET /uploads/{id}` });
  }

  /** Runs one route: its result as JSON, an ApiError as its status; anything else throws (a 500 for the caller to log). */
  async answer(route: () => Promise<unknown>, statusCode: number): Promise<ApiResponse> {
    try {
      return json(statusCode, await route());
    } catch (e) {
      if (e instanceof ApiError) return json(e.statusCode, { error: e.code, message: e.message });
      throw e;
    }
  }

  /** `POST /uploads`: a presigned PUT for a new key. */
  async createUpload(body: string | undefined): Promise<UploadGrant> {
    let request: unknown;
    try {
      request = JSON.parse(body ?? '');
    } catch {
      throw new ApiError(400, 'BadRequest', 'the body must be JSON: {"contentType": "image/jpeg", "contentLength": <bytes>}');
    }
    const { contentType, contentLength } = (typeof request === 'object' && request !== null ? request : {}) as Record<string, unknown>;
    if (typeof contentType !== 'string') {
      throw new ApiError(400, 'BadRequest', 'contentType must be a string, such as "image/jpeg"');
    }
    if (typeof contentLength !== 'number' || !Number.isSafeInteger(contentLength) || contentLength < 1) {
      throw new ApiError(400, 'BadRequest', `contentLength must be the file's size in bytes, a whole number of at least 1, got ${JSON.stringify(contentLength) ?? 'nothing'}`);
    }
    const format = this.o.pipeline.acceptedFormats.find((f) => UPLOAD_TYPES[f].contentType === contentType.toLowerCase().trim());
    if (!format) {
      throw new ApiError(415, 'UnsupportedContentType', `${JSON.stringify(contentType)} is not accepted; send one of ${this.acceptedContentTypes.join(', ')}`);
    }
    const max = this.o.api.maxUploadBytes;
    if (contentLength > max) {
      throw new ApiError(413, 'TooLarge', `the file has ${contentLength} bytes, more than the limit of ${max}`);
    }
    const { contentType: signedType, extension } = UPLOAD_TYPES[format];
    const id = `${this.newId()}.${extension}`;
    const key = this.inputKey(id);
    const expiresIn = this.o.api.uploadUrlExpirySeconds;
    const signedAt = this.now();
    const url = await getSignedUrl(this.presigner, new PutObjectCommand({
      Bucket: this.o.pipeline.inputBucket,
      Key: key,
      ContentType: signedType,
      ContentLength: contentLength,
      IfNoneMatch: '*',
    }), { expiresIn, signingDate: new Date(signedAt), signableHeaders: new Set(['content-type', 'content-length', 'if-none-match']) });
    return {
      id,
      key,
      upload: { method: 'PUT', url, headers: { 'Content-Type': signedType, 'If-None-Match': '*' } },
      expiresAt: new Date(signedAt + expiresIn * 1000).toISOString(),
      statusPath: `/uploads/${id}`,
    };
  }

  /** `GET /uploads/{id}`: pending, processed or rejected, from the output bucket. */
  async uploadState(id: string): Promise<UploadState> {
    if (!this.idPattern.test(id)) {
      throw new ApiError(404, 'NotFound', `${JSON.stringify(id)} is not an upload id this API hands out`);
    }
    const key = this.inputKey(id);
    // the variants of the upload's rule, when the pipeline has rules
    const variants = variantsFor(this.o.pipeline, key) ?? [];
    const skippable = (v: VariantConfig) => v.whenLarger === 'skip' || v.whenLarger === 'keep-source';
    const [failure, skipRecord, outputs] = await Promise.all([
      this.readRecord(failureKey(this.o.pipeline, key), key),
      variants.some(skippable) ? this.readRecord(skipRecordKey(this.o.pipeline, key), key) : undefined,
      Promise.all(variants.map((v) => this.readVariant(key, v))),
    ]);
    const found = outputs.filter((x): x is Found => x !== undefined);
    const sequencers = new Set(found.map((x) => x.sequencer));
    const newestOutput = found.map((x) => x.sequencer).sort(compareSequencers).pop() ?? '';
    const newer = (a: string, record?: { sequencer: string }) => !record || compareSequencers(a, record.sequencer) > 0;
    // Outputs from one upload for every variant, newer than any record: processed. A variant the
    // never-larger guard may skip counts as skipped when it has none (a skip record is written only
    // when every output was skipped).
    if (sequencers.size === 1 && variants.every((v, i) => outputs[i] !== undefined || skippable(v))
      && newer(newestOutput, failure) && newer(newestOutput, skipRecord)) {
      const processedAt = found.map((x) => x.lastModified).filter((t): t is Date => t !== undefined).sort((a, b) => a.getTime() - b.getTime()).pop();
      const skipped = variants.filter((_v, i) => outputs[i] === undefined).map((v) => v.name);
      return {
        id,
        key,
        status: 'processed',
        processedAt: processedAt?.toISOString(),
        outputs: await Promise.all(found.map((x) => this.describe(x))),
        ...(skipped.length > 0 ? { skipped } : {}),
      };
    }
    // Every output skipped: the skip record stands for them, when no newer output or record follows.
    if (skipRecord && compareSequencers(newestOutput, skipRecord.sequencer) <= 0 && newer(skipRecord.sequencer, failure)) {
      return { id, key, status: 'processed', processedAt: skipRecord.time, outputs: [], skipped: variants.map((v) => v.name) };
    }
    // A failure record that no newer output follows: rejected.
    if (failure && compareSequencers(newestOutput, failure.sequencer) <= 0) {
      return { id, key, status: 'rejected', reason: failure.reason, message: failure.message, rejectedAt: failure.time };
    }
    return { id, key, status: 'pending' };
  }

  private inputKey(id: string): string {
    return `${this.o.pipeline.inputPrefix}${UPLOAD_FOLDER}${id}`;
  }

  /** The newest output of a variant for `inputKey`, among the extensions its format may take; undefined if none is there yet. */
  private async readVariant(inputKey: string, v: VariantConfig): Promise<Found | undefined> {
    const extensions = variantExtensions(v);
    const hash = keyHash(inputKey);
    const candidates = await Promise.all(extensions.map(async (extension): Promise<Found | undefined> => {
      const key = variantKey(this.o.pipeline, inputKey, v.name, extension);
      const res = await this.get(key, `bytes=0-${HEADER_BYTES - 1}`);
      if (!res) return undefined;
      const metadata = res.Metadata ?? {};
      // Another input key's output at this key (a collision) is not this upload's.
      if (metadata[SOURCE_METADATA.keyHash] !== undefined && metadata[SOURCE_METADATA.keyHash] !== hash) return undefined;
      const head = res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
      return {
        variant: v.name,
        key,
        extension,
        contentType: res.ContentType,
        bytes: total === undefined ? res.ContentLength ?? head.length : Number(total),
        size: await this.sizeOf(key, head),
        sequencer: metadata[SOURCE_METADATA.sequencer] ?? '',
        lastModified: res.LastModified,
      };
    }));
    return candidates.filter((c): c is Found => c !== undefined).sort((a, b) => compareSequencers(a.sequencer, b.sequencer)).pop();
  }

  /** The dimensions from an output's first bytes; for a TIFF whose IFD comes after them, one more ranged GET. */
  private async sizeOf(key: string, head: Uint8Array): Promise<ImageSize | undefined> {
    const size = imageSize(head);
    const ifd = tiffIfdOffset(head);
    if (size !== undefined || ifd === undefined || ifd < head.length) return size;
    const res = await this.get(key, `bytes=${ifd}-${ifd + HEADER_BYTES - 1}`);
    return res?.Body ? tiffIfdSize(head[0] === 0x49, await res.Body.transformToByteArray()) : undefined;
  }

  /** A failure or skip record of `inputKey`, with the sequencer of the upload it is about. */
  private async readRecord(recordKey: string, inputKey: string): Promise<UploadRecord | undefined> {
    const res = await this.get(recordKey);
    if (!res?.Body) return undefined;
    const text = await res.Body.transformToString();
    let record: { key?: string; reason?: string; message?: string; time?: string; sequencer?: string };
    try {
      record = JSON.parse(text) as typeof record;
    } catch {
      record = {};
    }
    if (record.key !== undefined && record.key !== inputKey) return undefined;
    return {
      reason: record.reason ?? 'unknown',
      message: record.message ?? 'the failure record could not be read',
      time: record.time ?? res.LastModified?.toISOString(),
      sequencer: res.Metadata?.[SOURCE_METADATA.sequencer] ?? record.sequencer ?? '',
    };
  }

  private async describe(x: Found): Promise<OutputState> {
    const expiresIn = this.o.api.downloadUrlExpirySeconds;
    const signedAt = this.now();
    const url = await getSignedUrl(this.presigner, new GetObjectCommand({ Bucket: this.o.pipeline.outputBucket, Key: x.key }),
      { expiresIn, signingDate: new Date(signedAt) });
    return {
      variant: x.variant,
      key: x.key,
      format: EXTENSION_FORMAT[x.extension] ?? x.extension,
      contentType: x.contentType,
      width: x.size?.width,
      height: x.size?.height,
      bytes: x.bytes,
      url,
      urlExpiresAt: new Date(signedAt + expiresIn * 1000).toISOString(),
    };
  }

  /** GetObject of an output-bucket key; undefined when there is no such key. */
  private async get(key: string, range?: string): Promise<GetObjectCommandOutput | undefined> {
    try {
      return await this.o.s3.send(new GetObjectCommand({ Bucket: this.o.pipeline.outputBucket, Key: key, Range: range }));
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined;
      throw e;
    }
  }
}

/** What the API reads of a failure or skip record. */
interface UploadRecord {
  readonly reason: string;
  readonly message: string;
  readonly time?: string;
  readonly sequencer: string;
}

interface Found {
  readonly variant: string;
  readonly key: string;
  readonly extension: string;
  readonly contentType?: string;
  readonly bytes: number;
  readonly size?: { width: number; height: number };
  readonly sequencer: string;
  readonly lastModified?: Date;
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
