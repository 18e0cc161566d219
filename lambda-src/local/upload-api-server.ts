/**
 * The upload API and its web page in the local mode, on the S3 endpoint's own port under
 * `/_pipeline/`: a path no bucket can have (bucket names begin with a lowercase letter or a digit),
 * so an S3 request is never taken for one of these, and the page, the API and the presigned URLs
 * share one origin (the endpoint answers no CORS preflight, and needs none).
 *
 * - `GET  /_pipeline/`                the web page (and its scripts and styles)
 * - `GET  /_pipeline/settings.json`   what the page shows of the pipeline: accepted types, size limit, variants
 * - `POST /_pipeline/uploads`         the API, the same code as in Lambda (`../api/upload-api.ts`)
 * - `GET  /_pipeline/uploads/{id}`
 *
 * The API signs URLs for the host the request came to (`127.0.0.1` or `localhost`), so a page
 * opened under either name uploads to its own origin. With no credentials the endpoint takes any
 * signature, so expiry and the signed length and type are checked only when `serve` is given
 * `--access-key` and `--secret-key` (S3 always checks them).
 */
import * as fs from 'fs';
import type * as http from 'http';
import * as path from 'path';
import { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_BASE_PATH, type UploadApiConfig, UPLOAD_API_DEFAULTS, handlerMaxBytes } from '../../src/private/upload-api-contract';
import { UploadApi } from '../api/upload-api';
import type { PipelineConfig } from '../config';
import { webPageDir } from './assets';

export interface LocalUploadApiOptions {
  readonly pipeline: PipelineConfig;
  /** The S3 endpoint, as the API reaches it (loopback). */
  readonly endpoint: () => string;
  /** The function's memory in MB: uploads larger than the handler takes with it are refused. */
  readonly memorySizeMb: number;
  /** The credentials the endpoint checks signatures with, if any. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** @default the shipped page */
  readonly pageDir?: string;
  /** The API's document. @default - the construct's defaults, with the size limit the handler takes */
  readonly api?: Partial<UploadApiConfig>;
  /** @default Date.now */
  readonly now?: () => number;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const MAX_BODY = 16 * 1024;

/** The page's URL on an endpoint. */
export function pageUrl(endpoint: string): string {
  return `${endpoint.replace(/\/$/, '')}${LOCAL_BASE_PATH}`;
}

export class LocalUploadApi {
  readonly config: UploadApiConfig;
  private readonly pageDir: string;
  private readonly clients = new Map<string, UploadApi>();
  private reader?: S3Client;

  constructor(private readonly o: LocalUploadApiOptions) {
    this.config = {
      maxUploadBytes: handlerMaxBytes(o.pipeline.maxInputBytes, o.memorySizeMb, o.pipeline.concurrency),
      uploadUrlExpirySeconds: UPLOAD_API_DEFAULTS.uploadUrlExpirySeconds,
      downloadUrlExpirySeconds: UPLOAD_API_DEFAULTS.downloadUrlExpirySeconds,
      ...o.api,
    };
    this.pageDir = o.pageDir ?? webPageDir();
  }

  /**
   * Serves `req` when it is for the API or the page (a path-style request under `/_pipeline/`),
   * returning the promise of its answer; undefined leaves it to the S3 endpoint.
   */
  route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | undefined {
    const url = req.url ?? '/';
    const host = String(req.headers.host ?? '');
    // `<bucket>.localhost` is a virtual-host S3 request: its path is a key of that bucket.
    if (/^[^:]+\.localhost(?::\d+)?$/i.test(host)) return undefined;
    if (url !== LOCAL_BASE_PATH.slice(0, -1) && !url.startsWith(LOCAL_BASE_PATH)) return undefined;
    return this.serve(req, res, url).catch((e: Error) => {
      if (!res.headersSent) {
        send(res, 500, JSON.stringify({ error: 'InternalError', message: e.message }), 'application/json; charset=utf-8');
      } else {
        res.destroy(e);
      }
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, url: string): Promise<void> {
    const method = req.method ?? 'GET';
    const pathname = url.split('?')[0];
    if (pathname === LOCAL_BASE_PATH.slice(0, -1)) {
      res.writeHead(308, { Location: LOCAL_BASE_PATH });
      res.end();
      return;
    }
    const rest = pathname.slice(LOCAL_BASE_PATH.length - 1);
    if (rest === '/uploads' || rest.startsWith('/uploads/')) {
      const body = method === 'POST' ? await readBody(req) : undefined;
      if (body === null) {
        send(res, 413, JSON.stringify({ error: 'BadRequest', message: `the request body is larger than ${MAX_BODY} bytes` }), 'application/json; charset=utf-8');
        return;
      }
      const answer = await this.api(req).handle(method, rest, body);
      res.writeHead(answer.statusCode, answer.headers);
      res.end(answer.body);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, 405, 'only GET', 'text/plain; charset=utf-8', { Allow: 'GET, HEAD' });
      return;
    }
    if (rest === '/settings.json') {
      const api = this.api(req);
      send(res, 200, JSON.stringify({
        acceptedContentTypes: api.acceptedContentTypes,
        maxUploadBytes: this.config.maxUploadBytes,
        variants: this.o.pipeline.variants.map((v) => ({ name: v.name, width: v.width, height: v.height, format: v.format, grayscale: v.grayscale })),
      }), 'application/json; charset=utf-8', { 'Cache-Control': 'no-store' });
      return;
    }
    const file = rest === '/' ? 'index.html' : rest.slice(1);
    // The page's own files only: one name, no folders, a known type.
    const type = STATIC_TYPES[path.extname(file)];
    const full = path.join(this.pageDir, file);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(file) || !type || !fs.existsSync(full)) {
      send(res, 404, 'not found', 'text/plain; charset=utf-8');
      return;
    }
    send(res, 200, fs.readFileSync(full), type, {
      'Cache-Control': 'no-cache',
      // Nothing but this server: no inline script, no other origin.
      'Content-Security-Policy': "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
    });
  }

  /** The API, signing for the host the request came to. */
  private api(req: http.IncomingMessage): UploadApi {
    const endpoint = this.o.endpoint();
    const port = /:(\d+)$/.exec(endpoint)?.[1];
    const asked = String(req.headers.host ?? '');
    // Only this endpoint's own names for itself: loopback on its port.
    const host = port && new RegExp(`^(?:localhost|127\\.\\d+\\.\\d+\\.\\d+|\\[::1\\]):${port}$`, 'i').test(asked) ? asked : endpoint.replace(/^https?:\/\//, '');
    let api = this.clients.get(host);
    if (!api) {
      const credentials = this.o.credentials ?? { accessKeyId: 'local', secretAccessKey: 'local' };
      const client = (url: string) => new S3Client({
        region: 'us-east-1',
        endpoint: url,
        forcePathStyle: true,
        credentials,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      this.reader ??= client(endpoint);
      api = new UploadApi({ s3: this.reader, presigner: client(`http://${host}`), pipeline: this.o.pipeline, api: this.config, now: this.o.now });
      this.clients.set(host, api);
    }
    return api;
  }

  /** Closes the S3 clients. */
  close(): void {
    this.reader?.destroy();
    this.clients.clear();
  }
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** The body as text; null when it is larger than MAX_BODY. */
async function readBody(req: http.IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
