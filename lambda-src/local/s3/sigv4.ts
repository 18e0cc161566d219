/**
 * AWS Signature Version 4 checks, for an endpoint given credentials: requests signed in the
 * Authorization header, presigned URLs (X-Amz-Signature, with their expiry) and the chunk
 * signatures of streaming uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).
 */
import { createHash, createHmac, timingSafeEqual } from 'crypto';
import type * as http from 'http';
import type { ChunkSigner } from './aws-chunked';
import { S3Error } from './errors';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What a verified request signed: how its payload must be checked. */
export interface Verified {
  /** The x-amz-content-sha256 the signature covers (a hex hash, UNSIGNED-PAYLOAD, STREAMING-...). */
  readonly payload: string;
  /** Checks the chunk signatures of a signed streaming body. */
  readonly chunks?: ChunkSigner;
}

const MAX_SKEW_MS = 15 * 60 * 1000;

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ as %XX. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function denied(code: string, message: string): S3Error {
  return new S3Error(403, code, message);
}

/** `20250101T000000Z` as a time, or NaN. */
function amzTime(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

export class SigV4Verifier {
  constructor(private readonly credentials: Credentials) {}

  /**
   * Checks a request's signature; throws S3's 403 errors (AccessDenied, InvalidAccessKeyId,
   * SignatureDoesNotMatch, RequestTimeTooSkewed) when it does not hold.
   */
  verify(req: http.IncomingMessage, rawPath: string, rawQuery: string, now = Date.now()): Verified {
    const params = parseQuery(rawQuery);
    const auth = req.headers.authorization;
    if (params.some(([k]) => k === 'X-Amz-Signature')) return this.verifyPresigned(req, rawPath, params, now);
    if (!auth) throw denied('AccessDenied', 'Access Denied');
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(auth);
    if (!m) {
      if (/^AWS /.test(auth)) throw denied('AccessDenied', 'Only AWS Signature Version 4 is accepted by this endpoint');
      throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed');
    }
    const [, credential, signedHeaders, signature] = m;
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    let time = amzTime(amzDate);
    if (Number.isNaN(time) && req.headers.date) time = Date.parse(String(req.headers.date));
    if (Number.isNaN(time)) throw denied('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(now - time) > MAX_SKEW_MS) {
      throw denied('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    }
    const { scope, key } = this.scope(credential, amzDate);
    const payload = String(req.headers['x-amz-content-sha256'] ?? '');
    if (!payload) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    const canonical = canonicalRequest(req, rawPath, params, signedHeaders, payload);
    const expected = this.sign(key, amzDate, scope, canonical);
    if (!same(expected, signature)) throw signatureMismatch();
    const chunks = payload.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD') ? this.chunkSigner(key, amzDate, scope, signature) : undefined;
    return { payload, chunks };
  }

  private verifyPresigned(req: http.IncomingMessage, rawPath: string, params: [string, string][], now: number): Verified {
    const get = (name: string) => params.find(([k]) => k === name)?.[1] ?? '';
    if (get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw new S3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    const amzDate = get('X-Amz-Date');
    const time = amzTime(amzDate);
    const expires = Number(get('X-Amz-Expires'));
    if (Number.isNaN(time) || !Number.isInteger(expires) || expires < 1 || expires > 604800) {
      throw new S3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Date and X-Amz-Expires (1 to 604800 seconds) are required');
    }
    const { scope, key } = this.scope(get('X-Amz-Credential'), amzDate);
    if (now > time + expires * 1000) throw denied('AccessDenied', 'Request has expired');
    if (time - now > MAX_SKEW_MS) throw denied('AccessDenied', 'Request is not valid yet');
    const payload = String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
    const canonical = canonicalRequest(req, rawPath, params.filter(([k]) => k !== 'X-Amz-Signature'), get('X-Amz-SignedHeaders'), payload);
    const expected = this.sign(key, amzDate, scope, canonical);
    if (!same(expected, get('X-Amz-Signature'))) throw signatureMismatch();
    return { payload };
  }

  private scope(credential: string, amzDate: string): { scope: string; key: Buffer } {
    const parts = credential.split('/');
    if (parts.length !== 5 || parts[4] !== 'aws4_request') {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The Credential is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
    }
    const [accessKeyId, date, region, service] = parts;
    if (accessKeyId !== this.credentials.accessKeyId) {
      throw denied('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    }
    if (date !== amzDate.slice(0, 8) || service !== 's3') {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', `The credential scope ${parts.slice(1).join('/')} does not match the request`);
    }
    const key = hmac(hmac(hmac(hmac(`AWS4${this.credentials.secretAccessKey}`, date), region), service), 'aws4_request');
    return { scope: parts.slice(1).join('/'), key };
  }

  private sign(key: Buffer, amzDate: string, scope: string, canonical: string): string {
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
    return hmac(key, toSign).toString('hex');
  }

  private chunkSigner(key: Buffer, amzDate: string, scope: string, seed: string): ChunkSigner {
    let previous = seed;
    const empty = sha256Hex('');
    return {
      signed: true,
      chunk(signature: string, dataSha256: string) {
        const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, empty, dataSha256].join('\n');
        const expected = hmac(key, toSign).toString('hex');
        if (!same(expected, signature)) throw signatureMismatch('a chunk signature does not match');
        previous = signature;
      },
      trailer(signature: string, lines: string) {
        const toSign = ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previous, sha256Hex(lines)].join('\n');
        const expected = hmac(key, toSign).toString('hex');
        if (!same(expected, signature)) throw signatureMismatch('the trailer signature does not match');
        previous = signature;
      },
    };
  }
}

function signatureMismatch(detail?: string): S3Error {
  return denied('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'
    + (detail ? ` (${detail})` : ''));
}

/** The query's parameters, percent-decoded, in order. */
function parseQuery(rawQuery: string): [string, string][] {
  if (!rawQuery) return [];
  return rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? [decodeLoose(p), ''] : [decodeLoose(p.slice(0, eq)), decodeLoose(p.slice(eq + 1))];
  });
}

function canonicalRequest(req: http.IncomingMessage, rawPath: string, params: [string, string][], signedHeaders: string, payload: string): string {
  // S3 signs the path as sent, each segment encoded once; re-encoding the decoded segments gives
  // that whatever characters the client left unencoded on the wire.
  const uri = rawPath.split('/').map((s) => uriEncode(decodeLoose(s))).join('/');
  const query = params.map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const names = signedHeaders.split(';');
  if (!names.includes('host')) throw signatureMismatch('the host header is not signed');
  const values = new Map<string, string[]>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (!names.includes(name)) continue;
    const list = values.get(name) ?? [];
    list.push(req.rawHeaders[i + 1].trim().replace(/\s+/g, ' '));
    values.set(name, list);
  }
  const headers = names.map((n) => `${n}:${(values.get(n) ?? []).join(',')}\n`).join('');
  return [req.method ?? 'GET', uri, query, headers, signedHeaders, payload].join('\n');
}
