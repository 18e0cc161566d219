/** PutObject and CopyObject, and the source of a copy (of an object, or of a part). */
import * as fs from 'fs';
import type * as http from 'http';
import { Readable } from 'stream';
import { checksumHeader, type ChecksumAlgorithm } from './checksums';
import { preconditionFailure, writeCondition } from './conditions';
import { S3Error } from './errors';
import type { MultipartUploads } from './multipart';
import type { ObjectAttributes, ObjectMeta, ObjectStore, ReceivedBody } from './object-store';
import { decodePath, drain } from './request';
import type { Verified } from './sigv4';
import { attributesOf, checkBody, checkLength, requestedAlgorithms } from './write-request';
import { send, sendXml, XMLNS } from './xml';

/** What the write handlers act on: the objects, the uploads, and the event of each object created. */
export interface WriteContext {
  readonly store: ObjectStore;
  readonly multipart: MultipartUploads;
  /** Emits the ObjectCreated event, synchronously: called before the success response. */
  readonly notify: (eventName: string, bucket: string, meta: ObjectMeta, req: http.IncomingMessage) => void;
}

export async function putObject(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string,
  verified?: Verified): Promise<void> {
  ctx.store.bucket(bucket);
  checkLength(req);
  const condition = writeCondition(req, key);
  condition(ctx.store.bucket(bucket).get(key)); // before the body, to spare it; again at the switch
  const body = await ctx.store.receiveBody(req, { algorithms: requestedAlgorithms(req), signer: verified?.chunks });
  const sent = checkBody(req, body, verified);
  const attributes = attributesOf(req);
  const algorithm = (Object.keys(sent) as ChecksumAlgorithm[])[0];
  const checksum = algorithm ? { algorithm, value: sent[algorithm]!, type: 'FULL_OBJECT' as const } : undefined;
  const meta = ctx.store.commit(bucket, key, body.file, body.size, body.md5, { ...attributes, checksum }, condition);
  // The event is emitted (and journaled by its listener) before the answer.
  ctx.notify('ObjectCreated:Put', bucket, meta, req);
  send(res, 200, '', { ETag: `"${meta.etag}"`, ...(checksum ? { [checksumHeader(checksum.algorithm)]: checksum.value } : {}) });
}

/** The source of a copy: bucket and key of x-amz-copy-source, and the copy-source conditions. */
export function copySource(store: ObjectStore, req: http.IncomingMessage): { bucket: string; key: string; meta: ObjectMeta } {
  const raw = String(req.headers['x-amz-copy-source']);
  const source = decodePath(raw.split('?')[0]).replace(/^\//, '');
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) throw new S3Error(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source');
  const [bucket, key] = [source.slice(0, slash), source.slice(slash + 1)];
  const meta = store.bucket(bucket).get(key);
  if (!meta) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
  const h = (n: string) => req.headers[`x-amz-copy-source-${n}`] as string | undefined;
  const failed = preconditionFailure(meta, h('if-match'), h('if-none-match'), h('if-modified-since'), h('if-unmodified-since'));
  if (failed) throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', `x-amz-copy-source-${failed}`);
  return { bucket, key, meta };
}

/** Copies (a range of) a source object's current version into a temporary file. */
export async function copyBytes(store: ObjectStore, bucket: string, key: string, expected: ObjectMeta,
  range?: [number, number]): Promise<ReceivedBody> {
  const opened = store.openObject(bucket, key);
  if (!opened || opened.meta.version !== expected.version) {
    if (opened) fs.closeSync(opened.fd);
    throw new S3Error(409, 'OperationAborted', 'The source object changed during the copy; try again.', key);
  }
  const [start, end] = range ?? [0, opened.meta.size - 1];
  const stream = fs.createReadStream('', { fd: opened.fd, start, end: Math.max(start, end), autoClose: true });
  if (end < start) {
    stream.destroy();
    return store.receiveStream(emptyStream(), []);
  }
  return store.receiveStream(stream, []);
}

export async function copyObject(ctx: WriteContext, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
  ctx.store.bucket(bucket);
  await drain(req);
  const src = copySource(ctx.store, req);
  const replace = req.headers['x-amz-metadata-directive'] === 'REPLACE';
  if (src.bucket === bucket && src.key === key && !replace) {
    throw new S3Error(400, 'InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const condition = writeCondition(req, key);
  const body = await copyBytes(ctx.store, src.bucket, src.key, src.meta);
  const attributes: ObjectAttributes = replace ? attributesOf(req)
    : { contentType: src.meta.contentType, metadata: src.meta.metadata, headers: src.meta.headers };
  const checksum = src.meta.checksum?.type === 'FULL_OBJECT' ? src.meta.checksum : undefined;
  const meta = ctx.store.commit(bucket, key, body.file, body.size, body.md5, { ...attributes, checksum }, condition);
  ctx.notify('ObjectCreated:Copy', bucket, meta, req);
  sendXml(res, `<CopyObjectResult xmlns="${XMLNS}"><LastModified>${meta.lastModified}</LastModified><ETag>&quot;${meta.etag}&quot;</ETag></CopyObjectResult>`);
}

function emptyStream(): Readable {
  return Readable.from([]);
}
