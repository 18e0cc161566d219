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
 * This file routes the requests; the handlers are `get-object.ts` (GetObject, HeadObject),
 * `object-writes.ts` (PutObject, CopyObject), `multipart-requests.ts` (the requests of a multipart
 * upload) and `listing.ts` (the listings), with `conditions.ts` (request conditions) and
 * `write-request.ts` (the checks of a received body). The objects on disk are `object-store.ts`,
 * multipart uploads `multipart.ts`, the aws-chunked decoding `aws-chunked.ts`, signatures
 * `sigv4.ts`, checksums `checksums.ts` and the XML responses `xml.ts`.
 */
import { randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { deleteCondition } from './conditions';
import { S3Error } from './errors';
import { getObject } from './get-object';
import { withLatency, type Latency } from './latency';
import { listBuckets, listObjects, listParts, listUploads } from './listing';
import { MultipartUploads } from './multipart';
import { completeUpload, createUpload, uploadPart, uploadPartCopy } from './multipart-requests';
import { ObjectStore, type ObjectMeta } from './object-store';
import { copyObject, putObject, type WriteContext } from './object-writes';
import { drain, parseTarget, readAll } from './request';
import { SigV4Verifier, type Credentials, type Verified } from './sigv4';
import { checkPayloadHash } from './write-request';
import { OWNER, send, sendError, sendXml, unxml, xml, XMLNS } from './xml';
import { s3EventRecord } from '../../s3-event';

export interface S3ServerOptions {
  /** Folder for the buckets; created if missing. Objects already there are served. */
  readonly dataDir: string;
  /**
   * Serves the requests that are not for S3 on the same port (the upload API and its web page,
   * under a path no bucket can have): it returns the promise of its answer, or undefined to leave
   * the request to S3.
   * @default - every request is an S3 request
   */
  readonly route?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | undefined;
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
  /**
   * Simulated S3 latency on every request (`latency.ts`): a first-byte delay and a transfer time.
   * @default - none: answers as fast as loopback allows
   */
  readonly latency?: Latency;
  /**
   * Also emit an `ObjectRemoved:Delete` notification for every object deleted (DeleteObject and
   * DeleteObjects), with a sequencer greater than its uploads', as S3 does for a bucket whose
   * notifications ask for them.
   * @default false - ObjectCreated notifications only
   */
  readonly notifyRemovals?: boolean;
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
  private readonly writes: WriteContext;

  constructor(private readonly options: S3ServerOptions) {
    super();
    this.store = new ObjectStore(path.resolve(options.dataDir));
    this.multipart = new MultipartUploads(this.store);
    this.region = options.region ?? 'us-east-1';
    this.verifier = options.credentials ? new SigV4Verifier(options.credentials) : undefined;
    this.writes = {
      store: this.store,
      multipart: this.multipart,
      notify: (eventName, bucket, meta, req) => this.notify(eventName, bucket, meta, req),
    };
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
      const handle = () => this.handle(req, res);
      (this.options.latency ? withLatency(this.options.latency, req, res, handle) : handle())
        .catch((e) => sendError(res, e as Error, req.method));
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
    const routed = this.options.route?.(req, res);
    if (routed) return routed;
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
    const target = parseTarget(req);
    const { bucket, key, query: q } = target;
    const method = req.method ?? 'GET';
    const verified = this.verifier?.verify(req, target.rawPath, target.rawQuery);

    if (!bucket) {
      if (method === 'GET') return listBuckets(this.store, res);
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
          if (q.has('uploads')) return listUploads(this.store, this.multipart, res, bucket, q);
          if (q.has('acl')) {
            this.store.bucket(bucket);
            return sendXml(res, aclDocument());
          }
          if ([...q.keys()].some((k) => BUCKET_QUERIES_REFUSED.includes(k))) break;
          return listObjects(this.store, res, bucket, q);
      }
      throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on a bucket is not implemented by this endpoint`);
    }

    switch (method) {
      case 'PUT':
        if (q.has('acl')) return this.acknowledge(req, res, () => this.requireObject(bucket, key));
        if (q.has('tagging')) break; // tags are not kept: PutObjectTagging is refused
        if (q.has('uploadId')) {
          if (req.headers['x-amz-copy-source'] !== undefined) return uploadPartCopy(this.writes, req, res, bucket, key, q);
          return uploadPart(this.writes, req, res, bucket, key, q, verified);
        }
        if (req.headers['x-amz-copy-source'] !== undefined) return copyObject(this.writes, req, res, bucket, key);
        return putObject(this.writes, req, res, bucket, key, verified);
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
        if (q.has('uploadId')) return listParts(this.store, this.multipart, res, bucket, key, q);
        return getObject(this.store, req, res, bucket, key, q, method === 'HEAD');
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
        if (this.store.deleteObject(bucket, key)) this.notifyRemoval(bucket, key, req);
        return send(res, 204, '');
      case 'POST':
        if (q.has('uploads')) return createUpload(this.writes, req, res, bucket, key);
        if (q.has('uploadId')) return completeUpload(this.writes, req, res, bucket, key, q.get('uploadId'), verified);
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
      if (this.store.deleteObject(bucket, k)) this.notifyRemoval(bucket, k, req);
      if (!quiet) results.push(`<Deleted><Key>${xml(k)}</Key></Deleted>`);
    }
    sendXml(res, `<DeleteResult xmlns="${XMLNS}">${results.join('')}</DeleteResult>`);
  }

  /** The ObjectRemoved:Delete notification of a deleted object, when asked for: a key and a sequencer, no size or eTag. */
  private notifyRemoval(bucket: string, key: string, req: http.IncomingMessage): void {
    if (!this.options.notifyRemovals) return;
    const record = s3EventRecord({
      eventName: 'ObjectRemoved:Delete',
      bucket,
      key,
      sequencer: this.store.nextSequencer(),
      region: this.region,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
    });
    this.emit('event', { Records: [record] });
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
