/** The requests of a multipart upload: create, upload a part, copy a part, complete. */
import type * as http from 'http';
import { checksumAlgorithm, checksumHeader, type ChecksumAlgorithm } from './checksums';
import { writeCondition } from './conditions';
import { S3Error } from './errors';
import type { ListedPart } from './multipart';
import { copyBytes, copySource, type WriteContext } from './object-writes';
import { drain, readAll } from './request';
import type { Verified } from './sigv4';
import { attributesOf, checkBody, checkLength, checkPayloadHash, requestedAlgorithms } from './write-request';
import { send, sendXml, unxml, xml, XMLNS } from './xml';

export async function createUpload(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string,
  key: string): Promise<void> {
  ctx.store.bucket(bucket);
  await drain(req);
  const algorithm = checksumAlgorithm(String(req.headers['x-amz-checksum-algorithm'] ?? ''));
  const upload = ctx.multipart.create(bucket, key, attributesOf(req), algorithm);
  if (algorithm) {
    res.setHeader('x-amz-checksum-algorithm', algorithm);
    res.setHeader('x-amz-checksum-type', 'COMPOSITE');
  }
  sendXml(res, `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${upload.id}</UploadId></InitiateMultipartUploadResult>`);
}

function partNumber(q: URLSearchParams): number {
  const part = Number(q.get('partNumber'));
  if (!/^\d+$/.test(q.get('partNumber') ?? '') || part < 1 || part > 10000) {
    throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 'partNumber');
  }
  return part;
}

export async function uploadPart(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string,
  q: URLSearchParams, verified?: Verified): Promise<void> {
  ctx.store.bucket(bucket);
  const upload = ctx.multipart.get(bucket, key, q.get('uploadId'));
  const number = partNumber(q);
  checkLength(req);
  const algorithms = requestedAlgorithms(req, upload.checksumAlgorithm);
  const body = await ctx.store.receiveBody(req, { algorithms, signer: verified?.chunks });
  checkBody(req, body, verified);
  const current = ctx.multipart.get(bucket, key, upload.id); // not aborted meanwhile
  const checksum = upload.checksumAlgorithm ? body.checksums[upload.checksumAlgorithm] : undefined;
  const part = ctx.multipart.putPart(current, number, body, checksum);
  send(res, 200, '', { ETag: `"${part.etag}"`, ...(checksum ? { [checksumHeader(upload.checksumAlgorithm!)]: checksum } : {}) });
}

export async function uploadPartCopy(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string,
  q: URLSearchParams): Promise<void> {
  ctx.store.bucket(bucket);
  await drain(req);
  const upload = ctx.multipart.get(bucket, key, q.get('uploadId'));
  const number = partNumber(q);
  const src = copySource(ctx.store, req);
  let range: [number, number] | undefined;
  const rangeHeader = req.headers['x-amz-copy-source-range'];
  if (rangeHeader !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(rangeHeader));
    if (!m) throw new S3Error(400, 'InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', 'x-amz-copy-source-range');
    range = [Number(m[1]), Number(m[2])];
    if (range[0] > range[1] || range[1] >= src.meta.size) {
      throw new S3Error(400, 'InvalidRange', 'The requested range is not satisfiable', 'x-amz-copy-source-range');
    }
  }
  const body = await copyBytes(ctx.store, src.bucket, src.key, src.meta, range);
  const current = ctx.multipart.get(bucket, key, upload.id);
  const part = ctx.multipart.putPart(current, number, body);
  sendXml(res, `<CopyPartResult xmlns="${XMLNS}"><LastModified>${part.lastModified}</LastModified><ETag>&quot;${part.etag}&quot;</ETag></CopyPartResult>`);
}

export async function completeUpload(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string,
  id: string | null, verified?: Verified): Promise<void> {
  ctx.store.bucket(bucket);
  const raw = await readAll(req);
  checkPayloadHash(raw, verified);
  const result = (etag: string, algorithm?: ChecksumAlgorithm, checksum?: string) => sendXml(res,
    `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket>`
    + `<Key>${xml(key)}</Key><ETag>&quot;${etag}&quot;</ETag>`
    + (algorithm && checksum ? `<Checksum${algorithm}>${checksum}</Checksum${algorithm}><ChecksumType>COMPOSITE</ChecksumType>` : '')
    + '</CompleteMultipartUploadResult>');
  const before = ctx.multipart.completedBefore(bucket, key, id);
  if (before) {
    const algorithm = before.checksum ? ctx.store.bucket(bucket).get(key)?.checksum?.algorithm : undefined;
    return result(before.etag, algorithm, before.checksum);
  }
  const upload = ctx.multipart.get(bucket, key, id);
  const body = raw.toString('utf8');
  const algorithm = upload.checksumAlgorithm;
  const listed: ListedPart[] = [...body.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
    number: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1])?.[1] ?? NaN),
    etag: unxml(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1])?.[1] ?? '').trim(),
    checksum: algorithm ? /<Checksum(\w+)>([^<]*)<\/Checksum\w+>/.exec(m[1])?.[2] : undefined,
  }));
  if (listed.some((p) => !Number.isInteger(p.number))) {
    throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  }
  const requestChecksum = algorithm ? req.headers[checksumHeader(algorithm)] as string | undefined : undefined;
  const condition = writeCondition(req, key);
  condition(ctx.store.bucket(bucket).get(key));
  const prepared = ctx.multipart.prepare(upload, listed, requestChecksum);
  const tmp = await ctx.multipart.join(prepared.fds);
  const size = prepared.sizes.reduce((a, b) => a + b, 0);
  const checksum = algorithm && prepared.checksum ? { algorithm, value: prepared.checksum, type: 'COMPOSITE' as const } : undefined;
  ctx.multipart.get(bucket, key, upload.id); // not aborted or completed meanwhile
  const meta = ctx.store.commit(bucket, key, tmp, size, prepared.etag, { ...upload.attributes, parts: prepared.sizes, checksum }, condition);
  ctx.multipart.finish(upload, meta);
  ctx.notify('ObjectCreated:CompleteMultipartUpload', bucket, meta, req);
  result(meta.etag, algorithm, checksum?.value);
}
