/**
 * An S3-compatible endpoint for one machine: path-style (and `<bucket>.localhost` virtual-host)
 * requests from any S3 client with any credentials, objects on disk, and an S3 event notification
 * for every object created, shaped exactly as S3 shapes it.
 *
 * It speaks the part of the S3 API that uploaders and downloaders use: buckets (list, create, head,
 * delete, location), objects (put, copy, get with ranges and conditions, head, delete, batch
 * delete), listings (v1 and v2, prefix, delimiter, pagination) and multipart uploads. Bodies sent
 * with `aws-chunked` content encoding (the SDKs' streaming checksums) are decoded, so objects are
 * stored as sent whatever the client's checksum settings.
 *
 * This file routes the requests; the objects on disk are `object-store.ts`, multipart uploads
 * `multipart.ts`, the aws-chunked decoding `aws-chunked.ts` and the XML responses `xml.ts`.
 */
import { randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { S3Error } from './errors';
import { MultipartUploads } from './multipart';
import { ObjectStore, type ObjectMeta } from './object-store';
import { contentTypeOf, decodePath, drain, readAll, userMetadata } from './request';
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
}

export class S3Server extends EventEmitter {
  private server?: http.Server;
  private readonly store: ObjectStore;
  private readonly multipart: MultipartUploads;
  private readonly region: string;
  private boundPort?: number;
  private readonly sockets = new Set<import('net').Socket>();

  constructor(private readonly options: S3ServerOptions) {
    super();
    this.store = new ObjectStore(path.resolve(options.dataDir));
    this.multipart = new MultipartUploads(this.store);
    this.region = options.region ?? 'us-east-1';
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
    for (const b of this.options.buckets ?? []) this.createBucket(b);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => sendError(res, e as Error, req.method));
    });
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
    return fs.readFileSync(this.store.objectPath(bucket, key));
  }

  createBucket(name: string): boolean {
    return this.store.createBucket(name);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const q = url.searchParams;
    let bucket: string | undefined;
    let key: string | undefined;
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const virtual = /^(.+)\.localhost$/.exec(host);
    const segments = url.pathname.slice(1);
    if (virtual) {
      bucket = virtual[1];
      key = segments === '' ? undefined : decodePath(segments);
    } else if (segments !== '') {
      const slash = segments.indexOf('/');
      bucket = decodePath(slash < 0 ? segments : segments.slice(0, slash));
      key = slash < 0 || slash === segments.length - 1 ? undefined : decodePath(segments.slice(slash + 1));
    }
    const method = req.method ?? 'GET';
    res.setHeader('x-amz-request-id', randomBytes(8).toString('hex').toUpperCase());
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));

    if (!bucket) {
      if (method === 'GET') return this.listBuckets(res);
      throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
    if (key === undefined) {
      switch (method) {
        case 'PUT': await drain(req); this.createBucket(bucket); return send(res, 200, '', { Location: `/${bucket}` });
        case 'HEAD': this.store.bucket(bucket); return send(res, 200, '', { 'x-amz-bucket-region': this.region });
        case 'DELETE': return this.deleteBucket(res, bucket);
        case 'POST':
          if (q.has('delete')) return this.deleteObjects(req, res, bucket);
          break;
        case 'GET':
          if (q.has('location')) {
            this.store.bucket(bucket);
            return sendXml(res, `<LocationConstraint xmlns="${XMLNS}">${this.region === 'us-east-1' ? '' : this.region}</LocationConstraint>`);
          }
          if (q.has('uploads')) {
            this.store.bucket(bucket);
            return sendXml(res, `<ListMultipartUploadsResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`);
          }
          if ([...q.keys()].some((k) => ['versioning', 'acl', 'policy', 'cors', 'tagging', 'notification', 'encryption', 'lifecycle', 'website', 'logging'].includes(k))) {
            break;
          }
          return this.listObjects(res, bucket, q);
      }
      throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on a bucket is not implemented by this endpoint`);
    }

    switch (method) {
      case 'PUT':
        if (q.has('uploadId')) return this.multipart.uploadPart(req, res, q);
        if (req.headers['x-amz-copy-source']) return this.copyObject(req, res, bucket, key);
        return this.putObject(req, res, bucket, key);
      case 'GET':
      case 'HEAD':
        if (q.has('uploadId') || q.has('tagging') || q.has('acl')) break;
        return this.getObject(req, res, bucket, key, method === 'HEAD');
      case 'DELETE':
        if (q.has('uploadId')) {
          this.multipart.discard(q.get('uploadId')!);
          return send(res, 204, '');
        }
        this.store.deleteObject(bucket, key);
        return send(res, 204, '');
      case 'POST':
        if (q.has('uploads')) return this.multipart.create(req, res, bucket, key);
        if (q.has('uploadId')) return this.completeUpload(req, res, bucket, key, q.get('uploadId')!);
        break;
    }
    throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on an object is not implemented by this endpoint`);
  }

  private listBuckets(res: http.ServerResponse): void {
    const buckets = this.store.bucketNames().map((b) => {
      const created = this.store.bucketCreated(b);
      return `<Bucket><Name>${xml(b)}</Name><CreationDate>${created}</CreationDate></Bucket>`;
    }).join('');
    sendXml(res, `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
  }

  private deleteBucket(res: http.ServerResponse, bucket: string): void {
    this.store.deleteBucket(bucket);
    send(res, 204, '');
  }

  private listObjects(res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
    const v2 = q.get('list-type') === '2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeys = Math.min(1000, Math.max(0, Number(q.get('max-keys') ?? 1000)));
    const encode = q.get('encoding-type') === 'url';
    const after = v2
      ? (q.get('continuation-token') ? Buffer.from(q.get('continuation-token')!, 'base64url').toString('utf8') : q.get('start-after') ?? '')
      : q.get('marker') ?? '';
    const keys = [...this.store.bucket(bucket).keys()].filter((k) => k.startsWith(prefix) && k > after).sort();

    const contents: ObjectMeta[] = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = '';
    for (const k of keys) {
      if (delimiter) {
        const rest = k.slice(prefix.length);
        const cut = rest.indexOf(delimiter);
        if (cut >= 0) {
          const common = prefix + rest.slice(0, cut + delimiter.length);
          if (prefixes[prefixes.length - 1] === common) continue;
          if (contents.length + prefixes.length >= maxKeys) { truncated = true; break; }
          prefixes.push(common);
          last = common + '\uffff';
          continue;
        }
      }
      if (contents.length + prefixes.length >= maxKeys) { truncated = true; break; }
      contents.push(this.store.bucket(bucket).get(k)!);
      last = k;
    }
    const enc = (s: string) => xml(encode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const items = contents.map((o) => `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.lastModified}</LastModified>`
      + `<ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass>`
      + (v2 ? '' : `<Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner>`) + '</Contents>').join('');
    const common = prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('');
    const head = `<Name>${xml(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>`
      + (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '')
      + `<MaxKeys>${maxKeys}</MaxKeys>` + (encode ? '<EncodingType>url</EncodingType>' : '')
      + `<IsTruncated>${truncated}</IsTruncated>`;
    const paging = v2
      ? `<KeyCount>${contents.length + prefixes.length}</KeyCount>`
        + (q.get('continuation-token') ? `<ContinuationToken>${xml(q.get('continuation-token')!)}</ContinuationToken>` : '')
        + (q.get('start-after') ? `<StartAfter>${enc(q.get('start-after')!)}</StartAfter>` : '')
        + (truncated ? `<NextContinuationToken>${Buffer.from(last, 'utf8').toString('base64url')}</NextContinuationToken>` : '')
      : `<Marker>${enc(q.get('marker') ?? '')}</Marker>` + (truncated && delimiter ? `<NextMarker>${enc(last)}</NextMarker>` : '');
    sendXml(res, `<ListBucketResult xmlns="${XMLNS}">${head}${paging}${items}${common}</ListBucketResult>`);
  }

  private async putObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.store.bucket(bucket);
    const tmp = await this.store.receiveBody(req);
    const meta = this.store.commit(bucket, key, tmp.file, tmp.size, tmp.md5, contentTypeOf(req), userMetadata(req));
    send(res, 200, '', { ETag: `"${meta.etag}"` });
    this.notify('ObjectCreated:Put', bucket, meta, req);
  }

  private async copyObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.store.bucket(bucket);
    await drain(req);
    const source = decodeURIComponent(String(req.headers['x-amz-copy-source']).split('?')[0]).replace(/^\//, '');
    const slash = source.indexOf('/');
    const [srcBucket, srcKey] = [source.slice(0, slash), source.slice(slash + 1)];
    const src = this.store.bucket(srcBucket).get(srcKey);
    if (!src) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', srcKey);
    const tmp = this.store.copyToTmp(srcBucket, srcKey);
    const replace = req.headers['x-amz-metadata-directive'] === 'REPLACE';
    const meta = this.store.commit(bucket, key, tmp, src.size, src.etag,
      replace ? contentTypeOf(req) : src.contentType, replace ? userMetadata(req) : src.metadata);
    sendXml(res, `<CopyObjectResult xmlns="${XMLNS}"><LastModified>${meta.lastModified}</LastModified><ETag>&quot;${meta.etag}&quot;</ETag></CopyObjectResult>`);
    this.notify('ObjectCreated:Copy', bucket, meta, req);
  }

  private getObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, head: boolean): void {
    const meta = this.store.bucket(bucket).get(key);
    if (!meta) {
      if (head) return send(res, 404, '');
      throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    }
    const quoted = `"${meta.etag}"`;
    const ifMatch = req.headers['if-match'];
    if (ifMatch && !ifMatch.split(',').map((s) => s.trim()).some((t) => t === '*' || t === quoted || t === meta.etag)) {
      if (head) return send(res, 412, '');
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 'If-Match');
    }
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch && ifNoneMatch.split(',').map((s) => s.trim()).some((t) => t === '*' || t === quoted || t === meta.etag)) {
      return send(res, 304, '', { ETag: quoted });
    }
    const headers: Record<string, string> = {
      'ETag': quoted,
      'Last-Modified': new Date(meta.lastModified).toUTCString(),
      'Content-Type': meta.contentType,
      'Accept-Ranges': 'bytes',
    };
    for (const [k, v] of Object.entries(meta.metadata)) headers[`x-amz-meta-${k}`] = v;
    let start = 0;
    let end = meta.size - 1;
    let status = 200;
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && meta.size > 0) {
      if (range[1] === '') {
        start = Math.max(0, meta.size - Number(range[2]));
      } else {
        start = Number(range[1]);
        end = range[2] === '' ? end : Math.min(end, Number(range[2]));
      }
      if (start > end || start >= meta.size) {
        throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', key);
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
    }
    headers['Content-Length'] = String(meta.size === 0 ? 0 : end - start + 1);
    res.writeHead(status, headers);
    if (head || meta.size === 0) {
      res.end();
      return;
    }
    const stream = fs.createReadStream(this.store.objectPath(bucket, key), { start, end });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private async deleteObjects(req: http.IncomingMessage, res: http.ServerResponse, bucket: string): Promise<void> {
    this.store.bucket(bucket);
    const body = (await readAll(req)).toString('utf8');
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const keys = [...body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => unxml(m[1]));
    for (const k of keys) this.store.deleteObject(bucket, k);
    const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${xml(k)}</Key></Deleted>`).join('');
    sendXml(res, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  private async completeUpload(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, id: string): Promise<void> {
    const meta = await this.multipart.complete(req, res, bucket, key, id);
    this.notify('ObjectCreated:CompleteMultipartUpload', bucket, meta, req);
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
