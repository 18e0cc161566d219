/**
 * Reading S3 requests: the bucket and key named by the raw request target, bodies, content type
 * and user metadata.
 */
import type * as http from 'http';
import { S3Error } from './errors';

/** The longest key S3 takes, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** What a request names: a bucket (or none, for the service) and a key (or none, for the bucket). */
export interface Target {
  readonly bucket?: string;
  readonly key?: string;
  readonly query: URLSearchParams;
  /** The path as sent, still percent-encoded, for signature checks. */
  readonly rawPath: string;
  readonly rawQuery: string;
}

/**
 * Percent-decodes a path segment once, as S3 does: `%2F` is a `/` of the key, `.` and `..` are
 * characters of the key. A malformed escape or bytes that are not UTF-8 answer 400.
 */
export function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new S3Error(400, 'InvalidURI', 'Couldn\'t parse the specified URI.', p);
  }
}

/**
 * The bucket and key of a request, from the request target exactly as sent (never normalized, so
 * `/input/../output/x` is the key `../output/x` of the bucket `input`). Path style, or virtual-host
 * style when the Host is `<bucket>.localhost`.
 */
export function parseTarget(req: http.IncomingMessage): Target {
  let target = req.url ?? '/';
  // An absolute-form target (`http://host/path`), as proxies send it.
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(rawQuery);
  } catch {
    throw new S3Error(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
  }
  if (!rawPath.startsWith('/')) throw new S3Error(400, 'InvalidURI', 'Couldn\'t parse the specified URI.', rawPath);
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const virtual = /^(.+)\.localhost$/.exec(host);
  const rest = rawPath.slice(1);
  let bucket: string | undefined;
  let key: string | undefined;
  if (virtual) {
    bucket = virtual[1];
    key = rest === '' ? undefined : decodePath(rest);
  } else if (rest !== '') {
    const slash = rest.indexOf('/');
    bucket = decodePath(slash < 0 ? rest : rest.slice(0, slash));
    key = slash < 0 || slash === rest.length - 1 ? undefined : decodePath(rest.slice(slash + 1));
  }
  if (key !== undefined && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new S3Error(400, 'KeyTooLongError', 'Your key is too long', key.slice(0, 64));
  }
  return { bucket, key, query, rawPath, rawQuery };
}

export function contentTypeOf(req: http.IncomingMessage): string {
  return String(req.headers['content-type'] ?? 'binary/octet-stream');
}

/**
 * The `x-amz-meta-*` headers. Node reads header bytes as Latin-1; clients send UTF-8 (or RFC 2047
 * encoded words), so the bytes are read back as UTF-8 where they are valid UTF-8.
 */
export function userMetadata(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (!name.startsWith('x-amz-meta-')) continue;
    const k = name.slice('x-amz-meta-'.length);
    const v = headerText(req.rawHeaders[i + 1]);
    out[k] = out[k] === undefined ? v : `${out[k]},${v}`;
  }
  return out;
}

/** A header value as text: its Latin-1 bytes read as UTF-8 when they are valid UTF-8. */
export function headerText(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : value;
}

/**
 * A header value to send: Latin-1 text as its Latin-1 bytes (what clients read header bytes as),
 * other text as its UTF-8 bytes.
 */
export function headerBytes(value: string): string {
  return /^[\u0000-\u00ff]*$/.test(value) ? value : Buffer.from(value, 'utf8').toString('latin1');
}

export async function readAll(req: http.IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new S3Error(400, 'MaxMessageLengthExceeded', 'Your request was too big.');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function drain(req: http.IncomingMessage): Promise<void> {
  for await (const _ of req) { /* discard */ }
}
