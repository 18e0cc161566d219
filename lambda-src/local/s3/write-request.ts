/**
 * What a write request brings: its body, checked as S3 checks it (Content-MD5,
 * x-amz-content-sha256, the x-amz-checksum-*), the checksums it asks for, and the attributes it
 * gives the new object.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import { checksumAlgorithm, checksumHeader, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksums';
import { S3Error } from './errors';
import { STORED_HEADERS, type ObjectAttributes, type ReceivedBody } from './object-store';
import { contentTypeOf, userMetadata } from './request';
import type { Verified } from './sigv4';

/** Content-MD5, x-amz-content-sha256 and the x-amz-checksum-* of a received body, as S3 checks them. */
export function checkBody(req: http.IncomingMessage, body: ReceivedBody, verified?: Verified): Partial<Record<ChecksumAlgorithm, string>> {
  const refuse = (e: S3Error) => {
    fs.rmSync(body.file, { force: true });
    throw e;
  };
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined) {
    const sent = Buffer.from(String(md5), 'base64');
    if (sent.length !== 16 || sent.toString('base64') !== String(md5)) {
      refuse(new S3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.'));
    }
    if (sent.toString('hex') !== body.md5) refuse(new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.'));
  }
  const declared = String(verified?.payload ?? req.headers['x-amz-content-sha256'] ?? '');
  if (/^[0-9a-f]{64}$/.test(declared) && declared !== body.sha256 && !String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')) {
    refuse(new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.'));
  }
  const sent: Partial<Record<ChecksumAlgorithm, string>> = {};
  for (const a of CHECKSUM_ALGORITHMS) {
    const value = req.headers[checksumHeader(a)] ?? body.trailer[checksumHeader(a)];
    if (value === undefined) continue;
    if (String(value) !== body.checksums[a]) {
      refuse(new S3Error(400, 'BadDigest', `The ${a} you specified did not match the calculated checksum.`));
    }
    sent[a] = String(value);
  }
  return sent;
}

/** The checksum algorithms a request asks for (header, trailer, or SDK hint). */
export function requestedAlgorithms(req: http.IncomingMessage, also?: ChecksumAlgorithm): ChecksumAlgorithm[] {
  const names = [
    ...CHECKSUM_ALGORITHMS.filter((a) => req.headers[checksumHeader(a)] !== undefined),
    checksumAlgorithm(String(req.headers['x-amz-trailer'] ?? '')),
    checksumAlgorithm(String(req.headers['x-amz-sdk-checksum-algorithm'] ?? '')),
    also,
  ];
  return [...new Set(names.filter((a): a is ChecksumAlgorithm => a !== undefined))];
}

/** The stored headers and metadata a request gives a new object. */
export function attributesOf(req: http.IncomingMessage): ObjectAttributes {
  const headers: Record<string, string> = {};
  for (const h of STORED_HEADERS) {
    const v = req.headers[h];
    if (v === undefined) continue;
    let value = String(v);
    if (h === 'content-encoding') value = value.split(',').map((t) => t.trim()).filter((t) => t && t !== 'aws-chunked').join(', ');
    if (value !== '') headers[h] = value;
  }
  return { contentType: contentTypeOf(req), metadata: userMetadata(req), headers };
}

/** A body must say how it ends: a Content-Length, or a chunked transfer encoding. */
export function checkLength(req: http.IncomingMessage): void {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
  }
}

/** Checks a small body read whole against the x-amz-content-sha256 the request was signed with. */
export function checkPayloadHash(body: Buffer, verified?: Verified): void {
  if (!verified || !/^[0-9a-f]{64}$/.test(verified.payload)) return;
  if (createHash('sha256').update(body).digest('hex') !== verified.payload) {
    throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.');
  }
}
