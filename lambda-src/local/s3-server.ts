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
 */
import { createHash, randomBytes, randomUUID } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { Transform, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import { s3EventRecord } from '../s3-event';

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

interface ObjectMeta {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly sequencer: string;
}

class S3Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly resource?: string) {
    super(message);
  }
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OWNER = { id: '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a', name: 'local' };

export class S3Server extends EventEmitter {
  private server?: http.Server;
  private readonly root: string;
  private readonly region: string;
  private readonly index = new Map<string, Map<string, ObjectMeta>>();
  private readonly uploads = new Map<string, { bucket: string; key: string; contentType: string; metadata: Record<string, string> }>();
  private sequence = 0;
  private boundPort?: number;
  private readonly sockets = new Set<import('net').Socket>();

  constructor(private readonly options: S3ServerOptions) {
    super();
    this.root = path.resolve(options.dataDir);
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
    fs.mkdirSync(path.join(this.root, 'buckets'), { recursive: true });
    fs.mkdirSync(path.join(this.root, 'tmp'), { recursive: true });
    this.loadIndex();
    for (const b of this.options.buckets ?? []) this.createBucket(b);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => this.sendError(res, e as Error, req.method));
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
    return [...(this.index.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Reads an object's bytes directly. */
  readObject(bucket: string, key: string): Buffer {
    return fs.readFileSync(this.objectPath(bucket, key));
  }

  createBucket(name: string): boolean {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) {
      throw new S3Error(400, 'InvalidBucketName', `The specified bucket is not valid: ${name}`, name);
    }
    if (this.index.has(name)) return false;
    fs.mkdirSync(path.join(this.root, 'buckets', name, 'objects'), { recursive: true });
    this.index.set(name, new Map());
    return true;
  }

  private loadIndex(): void {
    this.index.clear();
    for (const bucket of fs.readdirSync(path.join(this.root, 'buckets'))) {
      const objects = new Map<string, ObjectMeta>();
      const dir = path.join(this.root, 'buckets', bucket, 'objects');
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.meta.json')) continue;
        try {
          const meta = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ObjectMeta;
          if (fs.existsSync(this.objectPath(bucket, meta.key))) objects.set(meta.key, meta);
        } catch {
          // a sidecar cut short by a crash: the object was never acknowledged
        }
      }
      this.index.set(bucket, objects);
    }
  }

  private objectPath(bucket: string, key: string): string {
    // One flat file per key: keys like `a` and `a/b` can both exist.
    const name = createHash('sha256').update(key).digest('hex');
    return path.join(this.root, 'buckets', bucket, 'objects', name);
  }

  private bucketIndex(bucket: string): Map<string, ObjectMeta> {
    const objects = this.index.get(bucket);
    if (!objects) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', bucket);
    return objects;
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
        case 'HEAD': this.bucketIndex(bucket); return send(res, 200, '', { 'x-amz-bucket-region': this.region });
        case 'DELETE': return this.deleteBucket(res, bucket);
        case 'POST':
          if (q.has('delete')) return this.deleteObjects(req, res, bucket);
          break;
        case 'GET':
          if (q.has('location')) {
            this.bucketIndex(bucket);
            return sendXml(res, `<LocationConstraint xmlns="${XMLNS}">${this.region === 'us-east-1' ? '' : this.region}</LocationConstraint>`);
          }
          if (q.has('uploads')) {
            this.bucketIndex(bucket);
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
        if (q.has('uploadId')) return this.uploadPart(req, res, q);
        if (req.headers['x-amz-copy-source']) return this.copyObject(req, res, bucket, key);
        return this.putObject(req, res, bucket, key);
      case 'GET':
      case 'HEAD':
        if (q.has('uploadId') || q.has('tagging') || q.has('acl')) break;
        return this.getObject(req, res, bucket, key, method === 'HEAD');
      case 'DELETE':
        if (q.has('uploadId')) {
          this.discardUpload(q.get('uploadId')!);
          return send(res, 204, '');
        }
        this.deleteObject(bucket, key);
        return send(res, 204, '');
      case 'POST':
        if (q.has('uploads')) return this.createUpload(req, res, bucket, key);
        if (q.has('uploadId')) return this.completeUpload(req, res, bucket, key, q.get('uploadId')!);
        break;
    }
    throw new S3Error(501, 'NotImplemented', `${method} ${[...q.keys()].join('&')} on an object is not implemented by this endpoint`);
  }

  private listBuckets(res: http.ServerResponse): void {
    const buckets = [...this.index.keys()].sort().map((b) => {
      const created = fs.statSync(path.join(this.root, 'buckets', b)).birthtime.toISOString();
      return `<Bucket><Name>${xml(b)}</Name><CreationDate>${created}</CreationDate></Bucket>`;
    }).join('');
    sendXml(res, `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
  }

  private deleteBucket(res: http.ServerResponse, bucket: string): void {
    if (this.bucketIndex(bucket).size > 0) {
      throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', bucket);
    }
    fs.rmSync(path.join(this.root, 'buckets', bucket), { recursive: true, force: true });
    this.index.delete(bucket);
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
    const keys = [...this.bucketIndex(bucket).keys()].filter((k) => k.startsWith(prefix) && k > after).sort();

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
      contents.push(this.bucketIndex(bucket).get(k)!);
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
    this.bucketIndex(bucket);
    const tmp = await this.receiveBody(req);
    const meta = this.commit(bucket, key, tmp.file, tmp.size, tmp.md5, contentTypeOf(req), userMetadata(req));
    send(res, 200, '', { ETag: `"${meta.etag}"` });
    this.notify('ObjectCreated:Put', bucket, meta, req);
  }

  private async copyObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.bucketIndex(bucket);
    await drain(req);
    const source = decodeURIComponent(String(req.headers['x-amz-copy-source']).split('?')[0]).replace(/^\//, '');
    const slash = source.indexOf('/');
    const [srcBucket, srcKey] = [source.slice(0, slash), source.slice(slash + 1)];
    const src = this.bucketIndex(srcBucket).get(srcKey);
    if (!src) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', srcKey);
    const tmp = path.join(this.root, 'tmp', randomUUID());
    fs.copyFileSync(this.objectPath(srcBucket, srcKey), tmp);
    const replace = req.headers['x-amz-metadata-directive'] === 'REPLACE';
    const meta = this.commit(bucket, key, tmp, src.size, src.etag,
      replace ? contentTypeOf(req) : src.contentType, replace ? userMetadata(req) : src.metadata);
    sendXml(res, `<CopyObjectResult xmlns="${XMLNS}"><LastModified>${meta.lastModified}</LastModified><ETag>&quot;${meta.etag}&quot;</ETag></CopyObjectResult>`);
    this.notify('ObjectCreated:Copy', bucket, meta, req);
  }

  private getObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, head: boolean): void {
    const meta = this.bucketIndex(bucket).get(key);
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
    const stream = fs.createReadStream(this.objectPath(bucket, key), { start, end });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private deleteObject(bucket: string, key: string): boolean {
    const objects = this.bucketIndex(bucket);
    if (!objects.has(key)) return false;
    objects.delete(key);
    const file = this.objectPath(bucket, key);
    fs.rmSync(`${file}.meta.json`, { force: true });
    fs.rmSync(file, { force: true });
    return true;
  }

  private async deleteObjects(req: http.IncomingMessage, res: http.ServerResponse, bucket: string): Promise<void> {
    this.bucketIndex(bucket);
    const body = (await readAll(req)).toString('utf8');
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const keys = [...body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => unxml(m[1]));
    for (const k of keys) this.deleteObject(bucket, k);
    const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${xml(k)}</Key></Deleted>`).join('');
    sendXml(res, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  private async createUpload(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.bucketIndex(bucket);
    await drain(req);
    const id = randomUUID().replace(/-/g, '');
    fs.mkdirSync(path.join(this.root, 'tmp', `upload-${id}`), { recursive: true });
    this.uploads.set(id, { bucket, key, contentType: contentTypeOf(req), metadata: userMetadata(req) });
    sendXml(res, `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
  }

  private async uploadPart(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): Promise<void> {
    const id = q.get('uploadId')!;
    if (!this.uploads.has(id)) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', id);
    const part = Number(q.get('partNumber'));
    if (!Number.isInteger(part) || part < 1 || part > 10000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    }
    const tmp = await this.receiveBody(req);
    fs.renameSync(tmp.file, path.join(this.root, 'tmp', `upload-${id}`, String(part)));
    fs.writeFileSync(path.join(this.root, 'tmp', `upload-${id}`, `${part}.md5`), tmp.md5);
    send(res, 200, '', { ETag: `"${tmp.md5}"` });
  }

  private async completeUpload(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, id: string): Promise<void> {
    const upload = this.uploads.get(id);
    if (!upload) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', id);
    const body = (await readAll(req)).toString('utf8');
    const parts = [...body.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map((m) => Number(m[1]));
    const dir = path.join(this.root, 'tmp', `upload-${id}`);
    const tmp = path.join(this.root, 'tmp', randomUUID());
    const out = fs.openSync(tmp, 'w');
    const md5s: Buffer[] = [];
    let size = 0;
    try {
      for (const p of parts) {
        const file = path.join(dir, String(p));
        if (!fs.existsSync(file)) throw new S3Error(400, 'InvalidPart', `Part ${p} was not uploaded`, key);
        const data = fs.readFileSync(file);
        fs.writeSync(out, data);
        size += data.length;
        md5s.push(Buffer.from(fs.readFileSync(`${file}.md5`, 'utf8'), 'hex'));
      }
    } finally {
      fs.closeSync(out);
    }
    const etag = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}`;
    const meta = this.commit(upload.bucket, upload.key, tmp, size, etag, upload.contentType, upload.metadata);
    this.discardUpload(id);
    sendXml(res, `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><ETag>&quot;${etag}&quot;</ETag></CompleteMultipartUploadResult>`);
    this.notify('ObjectCreated:CompleteMultipartUpload', bucket, meta, req);
  }

  private discardUpload(id: string): void {
    this.uploads.delete(id);
    fs.rmSync(path.join(this.root, 'tmp', `upload-${id}`), { recursive: true, force: true });
  }

  /** Streams a request body to a temporary file, decoding aws-chunked bodies. */
  private async receiveBody(req: http.IncomingMessage): Promise<{ file: string; size: number; md5: string }> {
    const file = path.join(this.root, 'tmp', randomUUID());
    const md5 = createHash('md5');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked')
      || String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
    try {
      if (chunked) {
        await pipeline(req, new AwsChunkedDecoder(), counter, fs.createWriteStream(file));
      } else {
        await pipeline(req, counter, fs.createWriteStream(file));
      }
    } catch (e) {
      fs.rmSync(file, { force: true });
      throw e;
    }
    const declared = req.headers['x-amz-decoded-content-length'];
    if (chunked && declared !== undefined && Number(declared) !== size) {
      fs.rmSync(file, { force: true });
      throw new S3Error(400, 'IncompleteBody', `Expected ${declared} bytes, received ${size}`);
    }
    return { file, size, md5: md5.digest('hex') };
  }

  /** Moves a received body into place and records it; the object exists from here on. */
  private commit(bucket: string, key: string, tmpFile: string, size: number, etag: string,
    contentType: string, metadata: Record<string, string>): ObjectMeta {
    const meta: ObjectMeta = {
      key,
      size,
      etag,
      lastModified: new Date().toISOString(),
      contentType,
      metadata,
      sequencer: (Date.now() * 1000 + (this.sequence++ % 1000)).toString(16).toUpperCase().padStart(16, '0'),
    };
    const file = this.objectPath(bucket, key);
    fs.renameSync(tmpFile, file);
    const sidecar = path.join(this.root, 'tmp', randomUUID());
    fs.writeFileSync(sidecar, JSON.stringify(meta));
    fs.renameSync(sidecar, `${file}.meta.json`);
    this.bucketIndex(bucket).set(key, meta);
    return meta;
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

  private sendError(res: http.ServerResponse, e: Error, method?: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const err = e instanceof S3Error ? e : new S3Error(500, 'InternalError', e.message);
    if (method === 'HEAD') {
      send(res, err.status, '');
      return;
    }
    sendXml(res, `<Error><Code>${err.code}</Code><Message>${xml(err.message)}</Message>`
      + (err.resource ? `<Resource>${xml(err.resource)}</Resource>` : '')
      + `<RequestId>${res.getHeader('x-amz-request-id')}</RequestId></Error>`, err.status);
  }
}

/**
 * Decodes the `aws-chunked` content encoding: `<hex size>[;chunk-signature=...]\r\n<data>\r\n`
 * chunks, a zero-size chunk, then optional trailer lines (checksums) and an empty line.
 */
export class AwsChunkedDecoder extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  private remaining = -1;
  private done = false;

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      this.parse();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  _flush(cb: TransformCallback): void {
    if (!this.done && !(this.remaining === -1 && this.buffer.length === 0)) {
      cb(new S3Error(400, 'IncompleteBody', 'The aws-chunked body ended before its last chunk'));
      return;
    }
    cb();
  }

  private parse(): void {
    while (!this.done) {
      if (this.remaining < 0) {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) {
          if (this.buffer.length > 4096) throw new S3Error(400, 'InvalidRequest', 'aws-chunked header line too long');
          return;
        }
        const header = this.buffer.subarray(0, eol).toString('latin1');
        const size = parseInt(header.split(';')[0], 16);
        if (!Number.isFinite(size) || size < 0) throw new S3Error(400, 'InvalidRequest', `bad aws-chunked header "${header}"`);
        this.buffer = this.buffer.subarray(eol + 2);
        if (size === 0) {
          this.done = true; // trailers (checksums) follow; they are not needed to store the object
          return;
        }
        this.remaining = size;
      }
      if (this.remaining > 0) {
        if (this.buffer.length === 0) return;
        const take = Math.min(this.remaining, this.buffer.length);
        this.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.remaining -= take;
      }
      if (this.remaining === 0) {
        if (this.buffer.length < 2) return;
        this.buffer = this.buffer.subarray(2); // the CRLF after the data
        this.remaining = -1;
      }
    }
  }
}

function decodePath(p: string): string {
  return decodeURIComponent(p);
}

function contentTypeOf(req: http.IncomingMessage): string {
  return String(req.headers['content-type'] ?? 'binary/octet-stream');
}

function userMetadata(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('x-amz-meta-') && v !== undefined) out[k.slice('x-amz-meta-'.length)] = String(v);
  }
  return out;
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function drain(req: http.IncomingMessage): Promise<void> {
  for await (const _ of req) { /* discard */ }
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

function sendXml(res: http.ServerResponse, body: string, status = 200): void {
  const doc = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(doc)) });
  res.end(doc);
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function unxml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, '\'')
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}
