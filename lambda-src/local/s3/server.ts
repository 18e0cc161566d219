/**
 * An S3-compatible endpoint for one machine: path-style (and `<bucket>.localhost` virtual-host)
 * requests from any S3 client, objects on disk, and an S3 event notification for every object
 * created, shaped exactly as S3 shapes it. Without credentials any signature is accepted; given
 * credentials, every request must be signed with them (SigV4: header, presigned URL, or signed
 * streaming chunks).
 *
 * It speaks the part of the S3 API that uploaders and downloaders use: buckets (list, create, head,
 * delete, location), objects (put, copy, get with ranges, parts and conditions, head, delete, batch
 * delete), conditional writes (If-Match, If-None-Match: *), Content-MD5 and the additional
 * checksums, listings (v1 and v2, prefix, delimiter, pagination) and multipart uploads (with
 * UploadPartCopy, ListParts and ListMultipartUploads). Keys are taken byte for byte from the
 * request path, percent-decoded once, never normalized. Bodies sent with `aws-chunked` content
 * encoding are decoded strictly.
 *
 * This file routes the requests; the objects on disk are `object-store.ts`, multipart uploads
 * `multipart.ts`, the aws-chunked decoding `aws-chunked.ts`, signatures `sigv4.ts`, checksums
 * `checksums.ts` and the XML responses `xml.ts`.
 */
import { createHash, randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { Readable } from 'stream';
import { checksumAlgorithm, checksumHeader, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksums';
import { S3Error } from './errors';
import { MultipartUploads, type ListedPart, type Upload } from './multipart';
import { compareKeys, ObjectStore, STORED_HEADERS, type ObjectAttributes, type ObjectMeta, type ReceivedBody } from './object-store';
import { contentTypeOf, decodePath, drain, headerBytes, parseTarget, readAll, userMetadata } from './request';
import { SigV4Verifier, type Credentials, type Verified } from './sigv4';
import { OWNER, send, sendError, sendXml, unxml, xml, XMLNS } from './xml';
import { s3EventRecord } from '../../s3-event';

export interface S3ServerOptions {
  /** Folder for the buckets; created if missing. Objects already there are served. */
  readonly dataDir: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Buckets created at start if they do not exist. */
  readonly buckets?: string[];
  /** @default 'us-east-1' */
  readonly region?: string;
  /**
   * Checks SigV4 signatures with these credentials; requests not signed with them are refused
   * with 403 (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied).
   * @default - any signature, or none, is accepted
   */
  readonly credentials?: Credentials;
}

const MAX_DELETE_KEYS = 1000;
const BUCKET_QUERIES_REFUSED = ['versioning', 'policy', 'cors', 'tagging', 'notification', 'encryption', 'lifecycle', 'website', 'logging', 'versions', 'object-lock', 'replication'];

export class S3Server extends EventEmitter {
  private server?: http.Server;
  private readonly store: ObjectStore;
  private readonly multipart: MultipartUploads;
  private readonly region: string;
  private readonly verifier?: SigV4Verifier;
  private boundPort?: number;
  private readonly sockets = new Set<import('net').Socket>();

  constructor(private readonly options: S3ServerOptions) {
    super();
    this.store = new ObjectStore(path.resolve(options.dataDir));
    this.multipart = new MultipartUploads(this.store);
    this.region = options.region ?? 'us-east-1';
    this.verifier = options.credentials ? new SigV4Verifier(options.credentials) : undefined;
  }

  /** The endpoint URL, once started. */
  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error('the S3 server is not running');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async start(): Promise<string> {
    if (this.server) return this.endpoint;
    this.store.open();
    this.multipart.open();
    for (const b of this.options.buckets ?? []) this.createBucket(b);
    const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
      // A refused body that was not read is discarded by node once the answer is sent.
      this.handle(req, res).catch((e) => sendError(res, e as Error, req.method));
    };
    this.server = http.createServer(serve);
    // Any Expect value (an empty one included) is served as S3 serves it, not refused with 417.
    this.server.on('checkExpectation', serve);
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      // After a stop, start again on the same port, so clients holding the endpoint reconnect.
      this.server!.listen(this.boundPort ?? this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    return this.endpoint;
  }

  /** Stops accepting connections and closes the idle ones; requests under way finish. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 2000).unref();
    });
  }

  /** The objects of a bucket, for tests and reports. */
  listKeys(bucket: string, prefix = ''): string[] {
    return this.store.listKeys(bucket, prefix);
  }

  /** Reads an object's bytes directly. */
  readObject(bucket: string, key: string): Buffer {
    return this.store.readObject(bucket, key);
  }

  createBucket(name: string): boolean {
    return this.store.createBucket(name);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
    const target = parseTarget(req);
    const { bucket, key, query: q } = target;
    const method = req.method ?? 'GET';
    const verified = this.verifier?.verify(req, target.rawPath, target.rawQuery);

    if (!bucket) {
      if (method === 'GET') return this.listBuckets(res);
      throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
    if (key === undefined) {
      switch (method) {
        case 'PUT':
          if (q.has('acl')) return this.acknowledge(req, res, () => this.store.bucket(bucket));
          if ([...q.keys()].length > 0) break;
          return this.createBucketRequest(req, res, bucket, verified);
        case 'HEAD': this.store.bucket(bucket); return send(res, 200, '', { 'x-amz-bucket-region': this.region });
        case 'DELETE': this.store.deleteBucket(bucket); return send(res, 204, '');
        case 'POST':
          if (q.has('delete')) return this.deleteObjects(req, res, bucket, verified);
          break;
        case 'GET':
          if (q.has('location')) {
            this.store.bucket(bucket);
            const location = this.store.bucketLocation(bucket);
            return sendXml(res, `<LocationConstraint xmlns="${XMLNS}">${xml(location)}</LocationConstraint>`);
          }
          if (q.has('uploads')) return this.listUploads(res, bucket, q);
          if (q.has('acl')) {
            this.store.bucket(bucket);
            return sendXml(res, aclDocument());
          }
          if ([...q.keys()].some((k) => BUCKET_QUERIES_REFUSED.includes(k))) break;
          return this.listObjects(res, bucket, q);
      }
      throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on a bucket is not implemented by this endpoint`);
    }

    switch (method) {
      case 'PUT':
        if (q.has('acl')) return this.acknowledge(req, res, () => this.requireObject(bucket, key));
        if (q.has('tagging')) break; // tags are not kept: PutObjectTagging is refused
        if (q.has('uploadId')) {
          if (req.headers['x-amz-copy-source'] !== undefined) return this.uploadPartCopy(req, res, bucket, key, q);
          return this.uploadPart(req, res, bucket, key, q, verified);
        }
        if (req.headers['x-amz-copy-source'] !== undefined) return this.copyObject(req, res, bucket, key);
        return this.putObject(req, res, bucket, key, verified);
      case 'GET':
      case 'HEAD':
        if (q.has('tagging')) {
          // Objects carry no tags here; copying clients (the AWS CLI's multipart copy) ask first.
          this.requireObject(bucket, key);
          return sendXml(res, `<Tagging xmlns="${XMLNS}"><TagSet></TagSet></Tagging>`);
        }
        if (q.has('acl')) {
          this.requireObject(bucket, key);
          return sendXml(res, aclDocument());
        }
        if (q.has('uploadId')) return this.listParts(res, bucket, key, q);
        return this.getObject(req, res, bucket, key, q, method === 'HEAD');
      case 'DELETE':
        if (q.has('tagging')) {
          this.requireObject(bucket, key);
          return send(res, 204, '');
        }
        if (q.has('uploadId')) {
          this.store.bucket(bucket);
          this.multipart.discard(this.multipart.get(bucket, key, q.get('uploadId')).id);
          return send(res, 204, '');
        }
        deleteCondition(req, key)(this.store.bucket(bucket).get(key));
        this.store.deleteObject(bucket, key);
        return send(res, 204, '');
      case 'POST':
        if (q.has('uploads')) return this.createUpload(req, res, bucket, key);
        if (q.has('uploadId')) return this.completeUpload(req, res, bucket, key, q.get('uploadId'), verified);
        break;
    }
    throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on an object is not implemented by this endpoint`);
  }

  private requireObject(bucket: string, key: string): ObjectMeta {
    const meta = this.store.bucket(bucket).get(key);
    if (!meta) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    return meta;
  }

  /** Canned ACLs are taken and ignored: every object is the owner's. */
  private async acknowledge(req: http.IncomingMessage, res: http.ServerResponse, check: () => unknown): Promise<void> {
    check();
    await drain(req);
    send(res, 200, '');
  }

  private async createBucketRequest(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, verified?: Verified): Promise<void> {
    const body = (await readAll(req, 64 * 1024));
    checkPayloadHash(body, verified);
    const location = /<LocationConstraint>([^<]*)<\/LocationConstraint>/.exec(body.toString('utf8'))?.[1];
    this.store.createBucket(bucket, location === undefined ? undefined : unxml(location));
    send(res, 200, '', { Location: `/${bucket}` });
  }

  private listBuckets(res: http.ServerResponse): void {
    const buckets = this.store.bucketNames().map((b) => {
      const created = this.store.bucketCreated(b);
      return `<Bucket><Name>${xml(b)}</Name><CreationDate>${created}</CreationDate></Bucket>`;
    }).join('');
    sendXml(res, `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
  }

  private listObjects(res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
    const v2 = q.get('list-type') === '2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeysText = q.get('max-keys');
    if (maxKeysText !== null && !/^\d+$/.test(maxKeysText)) {
      throw new S3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', 'max-keys');
    }
    const maxKeys = Math.min(1000, maxKeysText === null ? 1000 : Number(maxKeysText));
    const encode = q.get('encoding-type') === 'url';
    const token = q.get('continuation-token');
    let after: string;
    if (v2 && token) {
      after = Buffer.from(token, 'base64url').toString('utf8');
    } else {
      after = (v2 ? q.get('start-after') : q.get('marker')) ?? '';
    }
    const objects = this.store.bucket(bucket);
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    /** A key's entry in this listing: itself, or the common prefix it rolls up into. */
    const entryOf = (k: string): { common?: string } => {
      if (!delimiter) return {};
      const cut = k.indexOf(delimiter, prefix.length);
      return cut < 0 ? {} : { common: k.slice(0, cut + delimiter.length) };
    };

    const contents: ObjectMeta[] = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = '';
    for (const k of keys) {
      const { common } = entryOf(k);
      const name = common ?? k;
      // Past the marker: a common prefix equal to the marker was listed already.
      if (after && compareKeys(name, after) <= 0) continue;
      if (common !== undefined && prefixes[prefixes.length - 1] === common) continue;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = maxKeys > 0;
        break;
      }
      if (common !== undefined) prefixes.push(common);
      else contents.push(objects.get(k)!);
      last = name;
    }
    const enc = (s: string) => xml(encode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const owner = `<Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner>`;
    const withOwner = !v2 || q.get('fetch-owner') === 'true';
    const items = contents.map((o) => `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.lastModified}</LastModified>`
      + `<ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size>`
      + (o.checksum ? `<ChecksumAlgorithm>${o.checksum.algorithm}</ChecksumAlgorithm>` : '')
      + `<StorageClass>STANDARD</StorageClass>${withOwner ? owner : ''}</Contents>`).join('');
    const common = prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('');
    // ListObjects (v1) returns its Prefix as sent; v2 encodes it with the keys.
    const head = `<Name>${xml(bucket)}</Name><Prefix>${v2 ? enc(prefix) : xml(prefix)}</Prefix>`
      + (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '')
      + `<MaxKeys>${maxKeys}</MaxKeys>` + (encode ? '<EncodingType>url</EncodingType>' : '')
      + `<IsTruncated>${truncated}</IsTruncated>`;
    const paging = v2
      ? `<KeyCount>${contents.length + prefixes.length}</KeyCount>`
        + (token !== null ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '')
        + (q.get('start-after') !== null ? `<StartAfter>${enc(q.get('start-after')!)}</StartAfter>` : '')
        + (truncated ? `<NextContinuationToken>${Buffer.from(last, 'utf8').toString('base64url')}</NextContinuationToken>` : '')
      : `<Marker>${enc(q.get('marker') ?? '')}</Marker>` + (truncated ? `<NextMarker>${enc(last)}</NextMarker>` : '');
    sendXml(res, `<ListBucketResult xmlns="${XMLNS}">${head}${paging}${items}${common}</ListBucketResult>`);
  }

  /** Content-MD5, x-amz-content-sha256 and the x-amz-checksum-* of a received body, as S3 checks them. */
  private checkBody(req: http.IncomingMessage, body: ReceivedBody, verified?: Verified): Partial<Record<ChecksumAlgorithm, string>> {
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
  private requestedAlgorithms(req: http.IncomingMessage, also?: ChecksumAlgorithm): ChecksumAlgorithm[] {
    const names = [
      ...CHECKSUM_ALGORITHMS.filter((a) => req.headers[checksumHeader(a)] !== undefined),
      checksumAlgorithm(String(req.headers['x-amz-trailer'] ?? '')),
      checksumAlgorithm(String(req.headers['x-amz-sdk-checksum-algorithm'] ?? '')),
      also,
    ];
    return [...new Set(names.filter((a): a is ChecksumAlgorithm => a !== undefined))];
  }

  /** The stored headers and metadata a request gives a new object. */
  private attributesOf(req: http.IncomingMessage): ObjectAttributes {
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
  private checkLength(req: http.IncomingMessage): void {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    }
  }

  private async putObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, verified?: Verified): Promise<void> {
    this.store.bucket(bucket);
    this.checkLength(req);
    const condition = writeCondition(req, key);
    condition(this.store.bucket(bucket).get(key)); // before the body, to spare it; again at the switch
    const body = await this.store.receiveBody(req, { algorithms: this.requestedAlgorithms(req), signer: verified?.chunks });
    const sent = this.checkBody(req, body, verified);
    const attributes = this.attributesOf(req);
    const algorithm = (Object.keys(sent) as ChecksumAlgorithm[])[0];
    const checksum = algorithm ? { algorithm, value: sent[algorithm]!, type: 'FULL_OBJECT' as const } : undefined;
    const meta = this.store.commit(bucket, key, body.file, body.size, body.md5, { ...attributes, checksum }, condition);
    // The event is emitted (and journaled by its listener) before the answer.
    this.notify('ObjectCreated:Put', bucket, meta, req);
    send(res, 200, '', { ETag: `"${meta.etag}"`, ...(checksum ? { [checksumHeader(checksum.algorithm)]: checksum.value } : {}) });
  }

  /** The source of a copy: bucket and key of x-amz-copy-source, and the copy-source conditions. */
  private copySource(req: http.IncomingMessage): { bucket: string; key: string; meta: ObjectMeta } {
    const raw = String(req.headers['x-amz-copy-source']);
    const source = decodePath(raw.split('?')[0]).replace(/^\//, '');
    const slash = source.indexOf('/');
    if (slash <= 0 || slash === source.length - 1) throw new S3Error(400, 'InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source');
    const [bucket, key] = [source.slice(0, slash), source.slice(slash + 1)];
    const meta = this.store.bucket(bucket).get(key);
    if (!meta) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    const h = (n: string) => req.headers[`x-amz-copy-source-${n}`] as string | undefined;
    const failed = preconditionFailure(meta, h('if-match'), h('if-none-match'), h('if-modified-since'), h('if-unmodified-since'));
    if (failed) throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', `x-amz-copy-source-${failed}`);
    return { bucket, key, meta };
  }

  /** Copies (a range of) a source object's current version into a temporary file. */
  private async copyBytes(bucket: string, key: string, expected: ObjectMeta, range?: [number, number]): Promise<ReceivedBody> {
    const opened = this.store.openObject(bucket, key);
    if (!opened || opened.meta.version !== expected.version) {
      if (opened) fs.closeSync(opened.fd);
      throw new S3Error(409, 'OperationAborted', 'The source object changed during the copy; try again.', key);
    }
    const [start, end] = range ?? [0, opened.meta.size - 1];
    const stream = fs.createReadStream('', { fd: opened.fd, start, end: Math.max(start, end), autoClose: true });
    if (end < start) {
      stream.destroy();
      return this.store.receiveStream(emptyStream(), []);
    }
    return this.store.receiveStream(stream, []);
  }

  private async copyObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.store.bucket(bucket);
    await drain(req);
    const src = this.copySource(req);
    const replace = req.headers['x-amz-metadata-directive'] === 'REPLACE';
    if (src.bucket === bucket && src.key === key && !replace) {
      throw new S3Error(400, 'InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
    }
    const condition = writeCondition(req, key);
    const body = await this.copyBytes(src.bucket, src.key, src.meta);
    const attributes: ObjectAttributes = replace ? this.attributesOf(req)
      : { contentType: src.meta.contentType, metadata: src.meta.metadata, headers: src.meta.headers };
    const checksum = src.meta.checksum?.type === 'FULL_OBJECT' ? src.meta.checksum : undefined;
    const meta = this.store.commit(bucket, key, body.file, body.size, body.md5, { ...attributes, checksum }, condition);
    this.notify('ObjectCreated:Copy', bucket, meta, req);
    sendXml(res, `<CopyObjectResult xmlns="${XMLNS}"><LastModified>${meta.lastModified}</LastModified><ETag>&quot;${meta.etag}&quot;</ETag></CopyObjectResult>`);
  }

  private getObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, q: URLSearchParams, head: boolean): void {
    this.store.bucket(bucket);
    const partText = q.get('partNumber');
    const part = partText === null ? undefined : Number(partText);
    if (part !== undefined && (!Number.isInteger(part) || part < 1 || part > 10000)) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 'partNumber');
    }
    // The metadata and the bytes of one version, in one step: a write meanwhile changes neither.
    const opened = this.store.openObject(bucket, key);
    if (!opened) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    let streaming = false;
    try {
      const { meta } = opened;
      const quoted = `"${meta.etag}"`;
      const h = (n: string) => req.headers[n] as string | undefined;
      const failed = preconditionFailure(meta, h('if-match'), undefined, undefined, h('if-unmodified-since'));
      if (failed) throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', failed);
      if (preconditionFailure(meta, undefined, h('if-none-match'), h('if-modified-since'), undefined)) {
        return send(res, 304, '', { 'ETag': quoted, 'Last-Modified': new Date(meta.lastModified).toUTCString() });
      }
      const headers: Record<string, string> = {
        'ETag': quoted,
        'Last-Modified': new Date(meta.lastModified).toUTCString(),
        'Content-Type': meta.contentType,
        'Accept-Ranges': 'bytes',
      };
      for (const [k, v] of Object.entries(meta.headers ?? {})) headers[k] = headerBytes(v);
      for (const [k, v] of Object.entries(meta.metadata)) headers[`x-amz-meta-${k}`] = headerBytes(v);
      const overrides: Record<string, string> = {
        'response-content-type': 'Content-Type',
        'response-content-language': 'Content-Language',
        'response-expires': 'Expires',
        'response-cache-control': 'Cache-Control',
        'response-content-disposition': 'Content-Disposition',
        'response-content-encoding': 'Content-Encoding',
      };
      for (const [param, header] of Object.entries(overrides)) {
        const v = q.get(param);
        if (v === null) continue;
        delete headers[header.toLowerCase()];
        headers[header] = headerBytes(v);
      }
      if (meta.checksum && String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED' && part === undefined) {
        headers[checksumHeader(meta.checksum.algorithm)] = meta.checksum.value;
        headers['x-amz-checksum-type'] = meta.checksum.type;
      }
      let start = 0;
      let end = meta.size - 1;
      let status = 200;
      if (part !== undefined) {
        const sizes = meta.parts ?? [meta.size];
        if (part > sizes.length) throw new S3Error(400, 'InvalidPart', 'The requested partnumber is not satisfiable', key);
        start = sizes.slice(0, part - 1).reduce((a, b) => a + b, 0);
        end = start + sizes[part - 1] - 1;
        if (meta.parts) {
          headers['x-amz-mp-parts-count'] = String(meta.parts.length);
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
        }
      } else if (req.headers.range !== undefined) {
        const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range).trim());
        // A range S3 cannot parse is ignored (the whole object answers); one past the end is refused.
        if (range && (range[1] !== '' || range[2] !== '')) {
          if (range[1] === '') {
            start = Math.max(0, meta.size - Number(range[2]));
          } else {
            start = Number(range[1]);
            end = range[2] === '' ? end : Math.min(end, Number(range[2]));
          }
          if (range[1] !== '' && range[2] !== '' && Number(range[2]) < Number(range[1])) {
            start = 0;
            end = meta.size - 1; // an inverted range is ignored, as S3 does
          } else if (start >= meta.size || (range[1] === '' && Number(range[2]) === 0)) {
            throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', key);
          } else {
            status = 206;
            headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
          }
        }
      }
      const length = Math.max(0, end - start + 1);
      headers['Content-Length'] = String(length);
      res.writeHead(status, headers);
      if (head || length === 0) {
        res.end();
        return;
      }
      const stream = fs.createReadStream('', { fd: opened.fd, start, end, autoClose: true });
      streaming = true;
      stream.on('error', () => res.destroy());
      res.on('close', () => stream.destroy());
      stream.pipe(res);
    } finally {
      if (!streaming) fs.closeSync(opened.fd);
    }
  }

  private async deleteObjects(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, verified?: Verified): Promise<void> {
    this.store.bucket(bucket);
    const raw = await readAll(req);
    checkPayloadHash(raw, verified);
    const body = raw.toString('utf8');
    const objects = [...body.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map((m) => m[1]);
    if (!/<Delete[\s>]/.test(body) || objects.length === 0) {
      throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    }
    if (objects.length > MAX_DELETE_KEYS) {
      throw new S3Error(400, 'MalformedXML', `The request lists ${objects.length} keys; at most ${MAX_DELETE_KEYS} are allowed`);
    }
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const keys = objects.map((o) => unxml(/<Key>([\s\S]*?)<\/Key>/.exec(o)?.[1] ?? ''));
    const results: string[] = [];
    for (const k of keys) {
      if (k === '') {
        results.push('<Error><Key></Key><Code>UserKeyMustBeSpecified</Code><Message>The key is empty</Message></Error>');
        continue;
      }
      this.store.deleteObject(bucket, k);
      if (!quiet) results.push(`<Deleted><Key>${xml(k)}</Key></Deleted>`);
    }
    sendXml(res, `<DeleteResult xmlns="${XMLNS}">${results.join('')}</DeleteResult>`);
  }

  private async createUpload(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.store.bucket(bucket);
    await drain(req);
    const algorithm = checksumAlgorithm(String(req.headers['x-amz-checksum-algorithm'] ?? ''));
    const upload = this.multipart.create(bucket, key, this.attributesOf(req), algorithm);
    if (algorithm) {
      res.setHeader('x-amz-checksum-algorithm', algorithm);
      res.setHeader('x-amz-checksum-type', 'COMPOSITE');
    }
    sendXml(res, `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${upload.id}</UploadId></InitiateMultipartUploadResult>`);
  }

  private partNumber(q: URLSearchParams): number {
    const part = Number(q.get('partNumber'));
    if (!/^\d+$/.test(q.get('partNumber') ?? '') || part < 1 || part > 10000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 'partNumber');
    }
    return part;
  }

  private async uploadPart(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, q: URLSearchParams,
    verified?: Verified): Promise<void> {
    this.store.bucket(bucket);
    const upload = this.multipart.get(bucket, key, q.get('uploadId'));
    const number = this.partNumber(q);
    this.checkLength(req);
    const algorithms = this.requestedAlgorithms(req, upload.checksumAlgorithm);
    const body = await this.store.receiveBody(req, { algorithms, signer: verified?.chunks });
    this.checkBody(req, body, verified);
    const current = this.multipart.get(bucket, key, upload.id); // not aborted meanwhile
    const checksum = upload.checksumAlgorithm ? body.checksums[upload.checksumAlgorithm] : undefined;
    const part = this.multipart.putPart(current, number, body, checksum);
    send(res, 200, '', { ETag: `"${part.etag}"`, ...(checksum ? { [checksumHeader(upload.checksumAlgorithm!)]: checksum } : {}) });
  }

  private async uploadPartCopy(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, q: URLSearchParams): Promise<void> {
    this.store.bucket(bucket);
    await drain(req);
    const upload = this.multipart.get(bucket, key, q.get('uploadId'));
    const number = this.partNumber(q);
    const src = this.copySource(req);
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
    const body = await this.copyBytes(src.bucket, src.key, src.meta, range);
    const current = this.multipart.get(bucket, key, upload.id);
    const part = this.multipart.putPart(current, number, body);
    sendXml(res, `<CopyPartResult xmlns="${XMLNS}"><LastModified>${part.lastModified}</LastModified><ETag>&quot;${part.etag}&quot;</ETag></CopyPartResult>`);
  }

  private listParts(res: http.ServerResponse, bucket: string, key: string, q: URLSearchParams): void {
    this.store.bucket(bucket);
    const upload = this.multipart.get(bucket, key, q.get('uploadId'));
    const marker = Number(q.get('part-number-marker') ?? 0) || 0;
    const max = Math.min(1000, Math.max(0, Number(q.get('max-parts') ?? 1000) || 1000));
    const all = this.multipart.listParts(upload).filter((p) => p.number > marker);
    const parts = all.slice(0, max);
    const truncated = all.length > parts.length;
    const owner = `<ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName>`;
    const items = parts.map((p) => `<Part><PartNumber>${p.number}</PartNumber><LastModified>${p.lastModified}</LastModified>`
      + `<ETag>&quot;${p.etag}&quot;</ETag><Size>${p.size}</Size>`
      + (p.checksum && upload.checksumAlgorithm ? `<Checksum${upload.checksumAlgorithm}>${p.checksum}</Checksum${upload.checksumAlgorithm}>` : '')
      + '</Part>').join('');
    sendXml(res, `<ListPartsResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${upload.id}</UploadId>`
      + `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>`
      + `<PartNumberMarker>${marker}</PartNumberMarker>`
      + (parts.length ? `<NextPartNumberMarker>${parts[parts.length - 1].number}</NextPartNumberMarker>` : '')
      + `<MaxParts>${max}</MaxParts><IsTruncated>${truncated}</IsTruncated>`
      + (upload.checksumAlgorithm ? `<ChecksumAlgorithm>${upload.checksumAlgorithm}</ChecksumAlgorithm>` : '')
      + `${items}</ListPartsResult>`);
  }

  private listUploads(res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
    this.store.bucket(bucket);
    const prefix = q.get('prefix') ?? '';
    const keyMarker = q.get('key-marker') ?? '';
    const idMarker = q.get('upload-id-marker') ?? '';
    const max = Math.min(1000, Math.max(0, Number(q.get('max-uploads') ?? 1000) || 1000));
    const all = this.multipart.list(bucket, prefix).filter((u) => {
      const c = compareKeys(u.key, keyMarker);
      return !keyMarker || c > 0 || (c === 0 && idMarker !== '' && u.id > idMarker);
    });
    const uploads = all.slice(0, max);
    const truncated = all.length > uploads.length;
    const owner = `<ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName>`;
    const items = uploads.map((u: Upload) => `<Upload><Key>${xml(u.key)}</Key><UploadId>${u.id}</UploadId>`
      + `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>`
      + `<Initiated>${u.initiated}</Initiated></Upload>`).join('');
    const last = uploads[uploads.length - 1];
    sendXml(res, `<ListMultipartUploadsResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket>`
      + `<KeyMarker>${xml(keyMarker)}</KeyMarker><UploadIdMarker>${xml(idMarker)}</UploadIdMarker>`
      + (truncated && last ? `<NextKeyMarker>${xml(last.key)}</NextKeyMarker><NextUploadIdMarker>${last.id}</NextUploadIdMarker>` : '')
      + `<Prefix>${xml(prefix)}</Prefix><MaxUploads>${max}</MaxUploads><IsTruncated>${truncated}</IsTruncated>${items}</ListMultipartUploadsResult>`);
  }

  private async completeUpload(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, id: string | null,
    verified?: Verified): Promise<void> {
    this.store.bucket(bucket);
    const raw = await readAll(req);
    checkPayloadHash(raw, verified);
    const result = (etag: string, algorithm?: ChecksumAlgorithm, checksum?: string) => sendXml(res,
      `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket>`
      + `<Key>${xml(key)}</Key><ETag>&quot;${etag}&quot;</ETag>`
      + (algorithm && checksum ? `<Checksum${algorithm}>${checksum}</Checksum${algorithm}><ChecksumType>COMPOSITE</ChecksumType>` : '')
      + '</CompleteMultipartUploadResult>');
    const before = this.multipart.completedBefore(bucket, key, id);
    if (before) {
      const algorithm = before.checksum ? this.store.bucket(bucket).get(key)?.checksum?.algorithm : undefined;
      return result(before.etag, algorithm, before.checksum);
    }
    const upload = this.multipart.get(bucket, key, id);
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
    condition(this.store.bucket(bucket).get(key));
    const prepared = this.multipart.prepare(upload, listed, requestChecksum);
    const tmp = await this.multipart.join(prepared.fds);
    const size = prepared.sizes.reduce((a, b) => a + b, 0);
    const checksum = algorithm && prepared.checksum ? { algorithm, value: prepared.checksum, type: 'COMPOSITE' as const } : undefined;
    this.multipart.get(bucket, key, upload.id); // not aborted or completed meanwhile
    const meta = this.store.commit(bucket, key, tmp, size, prepared.etag, { ...upload.attributes, parts: prepared.sizes, checksum }, condition);
    this.multipart.finish(upload, meta);
    this.notify('ObjectCreated:CompleteMultipartUpload', bucket, meta, req);
    result(meta.etag, algorithm, checksum?.value);
  }

  private notify(eventName: string, bucket: string, meta: ObjectMeta, req: http.IncomingMessage): void {
    const record = s3EventRecord({
      eventName,
      bucket,
      key: meta.key,
      size: meta.size,
      eTag: meta.etag,
      sequencer: meta.sequencer,
      time: meta.lastModified,
      region: this.region,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
    });
    this.emit('event', { Records: [record] });
  }
}

function aclDocument(): string {
  const owner = `<ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName>`;
  return `<AccessControlPolicy xmlns="${XMLNS}"><Owner>${owner}</Owner><AccessControlList><Grant>`
    + `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${owner}</Grantee>`
    + '<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>';
}

/** Checks a small body read whole against the x-amz-content-sha256 the request was signed with. */
function checkPayloadHash(body: Buffer, verified?: Verified): void {
  if (!verified || !/^[0-9a-f]{64}$/.test(verified.payload)) return;
  if (createHash('sha256').update(body).digest('hex') !== verified.payload) {
    throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.');
  }
}

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
function preconditionFailure(meta: ObjectMeta, ifMatch?: string, ifNoneMatch?: string, ifModifiedSince?: string,
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
function writeCondition(req: http.IncomingMessage, key: string): (current: ObjectMeta | undefined) => void {
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
function deleteCondition(req: http.IncomingMessage, key: string): (current: ObjectMeta | undefined) => void {
  const ifMatch = req.headers['if-match'];
  return (current) => {
    if (ifMatch === undefined) return;
    if (!current) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    if (ifMatch.trim() !== '*' && !etagMatches(ifMatch, current.etag)) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 'If-Match');
    }
  };
}

function emptyStream(): Readable {
  return Readable.from([]);
}
