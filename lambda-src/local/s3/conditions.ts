/**
 * The conditions of requests, as S3 evaluates them: the read preconditions (If-Match,
 * If-None-Match, If-Modified-Since, If-Unmodified-Since, and their x-amz-copy-source forms) and
 * the conditions of writes and deletes.
 */
import type * as http from 'http';
import { S3Error } from './errors';
import type { ObjectMeta } from './object-store';

function etagMatches(list: string, etag: string): boolean {
  return list.split(',').map((s) => s.trim()).some((t) => t === '*' || t === `"${etag}"` || t === etag);
}

/** Seconds since the epoch, as HTTP dates compare. */
function seconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

/**
 * Which of the read preconditions fails, as S3 evaluates them (a matching If-Match overrides
 * If-Unmodified-Since, a failing If-None-Match overrides If-Modified-Since); undefined if none.
 */
export function preconditionFailure(meta: ObjectMeta, ifMatch?: string, ifNoneMatch?: string, ifModifiedSince?: string,
  ifUnmodifiedSince?: string): string | undefined {
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, meta.etag)) return 'if-match';
  } else if (ifUnmodifiedSince !== undefined) {
    const t = Date.parse(ifUnmodifiedSince);
    if (!Number.isNaN(t) && seconds(meta.lastModified) > Math.floor(t / 1000)) return 'if-unmodified-since';
  }
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, meta.etag)) return 'if-none-match';
  } else if (ifModifiedSince !== undefined) {
    const t = Date.parse(ifModifiedSince);
    if (!Number.isNaN(t) && t <= Date.now() && seconds(meta.lastModified) <= Math.floor(t / 1000)) return 'if-modified-since';
  }
  return undefined;
}

/**
 * The conditions of a write (PutObject, CopyObject, CompleteMultipartUpload): If-None-Match: *
 * (no object of that key) and If-Match (the current object has that ETag), checked against the
 * current version at the moment the new one replaces it.
 */
export function writeCondition(req: http.IncomingMessage, key: string): (current: ObjectMeta | undefined) => void {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new S3Error(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', 'If-None-Match');
  }
  return (current) => {
    if (ifNoneMatch !== undefined && current) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 'If-None-Match');
    }
    if (ifMatch !== undefined) {
      if (!current) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
      if (!etagMatches(ifMatch, current.etag)) {
        throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 'If-Match');
      }
    }
  };
}

/**
 * The condition of a delete: If-Match with an ETag (the current object has it) or `*` (there is
 * one); S3 answers 412 PreconditionFailed, or 404 NoSuchKey where there is no object.
 */
export function deleteCondition(req: http.IncomingMessage, key: string): (current: ObjectMeta | undefined) => void {
  const ifMatch = req.headers['if-match'];
  return (current) => {
    if (ifMatch === undefined) return;
    if (!current) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    if (ifMatch.trim() !== '*' && !etagMatches(ifMatch, current.etag)) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 'If-Match');
    }
  };
}
