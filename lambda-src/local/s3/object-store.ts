/**
 * The endpoint's objects on disk. Each version of an object is an immutable file
 * `<root>/buckets/<bucket>/data/<version>`; the key's current version and its metadata are a
 * pointer `<root>/buckets/<bucket>/keys/<sha256 of key>.json`, replaced with one rename. A crash
 * at any point leaves the old bytes with the old metadata or the new bytes with the new metadata,
 * never a mix; versions no pointer names are removed at start. Keys never reach the file system as
 * paths (a key like `../x` is a hash there), so no key can leave its bucket's folder.
 *
 * Reading looks up the metadata and opens the version's file in one synchronous step, and a
 * version's file is unlinked only once no pointer names it, so a reader always gets the bytes of
 * the metadata it answers with, whatever is written meanwhile. An index in memory, rebuilt from
 * the pointers at start, answers listings.
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import * as path from 'path';
import { Transform, type Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { AwsChunkedDecoder, type ChunkSigner } from './aws-chunked';
import { checksumHasher, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from './checksums';
import { S3Error } from './errors';

/** The headers S3 stores with an object and returns on GET and HEAD. */
export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;

export interface ObjectChecksum {
  readonly algorithm: ChecksumAlgorithm;
  /** Base64, with `-<parts>` for a composite checksum of a multipart upload. */
  readonly value: string;
  readonly type: 'FULL_OBJECT' | 'COMPOSITE';
}

export interface ObjectMeta {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly sequencer: string;
  /** The name of the immutable file holding this version's bytes. */
  readonly version: string;
  /** Stored headers (Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires). */
  readonly headers?: Record<string, string>;
  /** The part sizes of an object made by a multipart upload. */
  readonly parts?: number[];
  readonly checksum?: ObjectChecksum;
}

/** What an object is written with, besides its bytes. */
export interface ObjectAttributes {
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly parts?: number[];
  readonly checksum?: ObjectChecksum;
}

/** A request body stored in a temporary file. */
export interface ReceivedBody {
  readonly file: string;
  readonly size: number;
  readonly md5: string;
  /** Base64 checksums computed over the body, by algorithm. */
  readonly checksums: Partial<Record<ChecksumAlgorithm, string>>;
  /** Checksums sent in the aws-chunked trailer. */
  readonly trailer: Record<string, string>;
  readonly sha256: string;
}

export interface ReceiveOptions {
  /** Checksums to compute besides MD5 and SHA-256. */
  readonly algorithms?: ChecksumAlgorithm[];
  /** Checks aws-chunked chunk signatures, when the request was signed. */
  readonly signer?: ChunkSigner;
}

/** An object's version opened for reading: its metadata and a descriptor of its bytes. */
export interface OpenedObject {
  readonly meta: ObjectMeta;
  readonly fd: number;
}

export class ObjectStore {
  private readonly index = new Map<string, Map<string, ObjectMeta>>();
  private sequence = 0;

  constructor(readonly root: string) {}

  /** Creates the folders if missing, reads the objects already there and clears what a crash left. */
  open(): void {
    fs.mkdirSync(path.join(this.root, 'buckets'), { recursive: true });
    fs.rmSync(path.join(this.root, 'tmp'), { recursive: true, force: true });
    fs.mkdirSync(path.join(this.root, 'tmp'), { recursive: true });
    this.loadIndex();
  }

  /** The bucket names, sorted. */
  bucketNames(): string[] {
    return [...this.index.keys()].sort();
  }

  /** When a bucket was created, as an ISO date. */
  bucketCreated(bucket: string): string {
    return fs.statSync(this.bucketDir(bucket)).birthtime.toISOString();
  }

  /** The location constraint a bucket was created with ('' for none). */
  bucketLocation(bucket: string): string {
    try {
      return (JSON.parse(fs.readFileSync(path.join(this.bucketDir(bucket), 'bucket.json'), 'utf8')) as { location?: string }).location ?? '';
    } catch {
      return '';
    }
  }

  createBucket(name: string, location?: string): boolean {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || /\.\.|^\d+\.\d+\.\d+\.\d+$/.test(name)) {
      throw new S3Error(400, 'InvalidBucketName', `The specified bucket is not valid: ${name}`, name);
    }
    if (this.index.has(name)) return false;
    fs.mkdirSync(path.join(this.bucketDir(name), 'keys'), { recursive: true });
    fs.mkdirSync(path.join(this.bucketDir(name), 'data'), { recursive: true });
    if (location) fs.writeFileSync(path.join(this.bucketDir(name), 'bucket.json'), JSON.stringify({ location }));
    this.index.set(name, new Map());
    return true;
  }

  deleteBucket(bucket: string): void {
    if (this.bucket(bucket).size > 0) {
      throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', bucket);
    }
    fs.rmSync(this.bucketDir(bucket), { recursive: true, force: true });
    this.index.delete(bucket);
  }

  /** A bucket's objects by key; NoSuchBucket if there is no such bucket. */
  bucket(bucket: string): Map<string, ObjectMeta> {
    const objects = this.index.get(bucket);
    if (!objects) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', bucket);
    return objects;
  }

  /** The keys of a bucket under a prefix, sorted; none for a bucket that does not exist. */
  listKeys(bucket: string, prefix = ''): string[] {
    return [...(this.index.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort(compareKeys);
  }

  /** The current version of an object, opened: metadata and bytes of one and the same version. */
  openObject(bucket: string, key: string): OpenedObject | undefined {
    const meta = this.bucket(bucket).get(key);
    if (!meta) return undefined;
    return { meta, fd: fs.openSync(this.dataPath(bucket, meta.version), 'r') };
  }

  /** Reads a whole object (for tests and reports). */
  readObject(bucket: string, key: string): Buffer {
    const opened = this.openObject(bucket, key);
    if (!opened) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
    try {
      return fs.readFileSync(opened.fd);
    } finally {
      fs.closeSync(opened.fd);
    }
  }

  /** A new path in the temporary folder. */
  tmpPath(name: string = randomUUID()): string {
    return path.join(this.root, 'tmp', name);
  }

  /** Streams a request body to a temporary file, decoding aws-chunked bodies strictly. */
  async receiveBody(req: http.IncomingMessage, options: ReceiveOptions = {}): Promise<ReceivedBody> {
    const chunked = isAwsChunked(req);
    const decoder = chunked ? new AwsChunkedDecoder(options.signer) : undefined;
    const received = await this.receiveStream(decoder ? req.pipe(decoder) : req, options.algorithms ?? [], decoder ? [req] : []);
    const declared = req.headers['x-amz-decoded-content-length'];
    if (chunked && declared !== undefined && Number(declared) !== received.size) {
      fs.rmSync(received.file, { force: true });
      throw new S3Error(400, 'IncompleteBody', `Expected ${declared} bytes, received ${received.size}`);
    }
    return { ...received, trailer: decoder?.trailer ?? {} };
  }

  /** Streams bytes to a temporary file, with their MD5, SHA-256 and the checksums asked for. */
  async receiveStream(source: Readable, algorithms: ChecksumAlgorithm[], upstream: Readable[] = []): Promise<ReceivedBody> {
    const file = this.tmpPath();
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    const hashers = algorithms.map((a) => [a, checksumHasher(a)] as const);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        sha256.update(chunk);
        for (const [, h] of hashers) h.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      // An error of the request itself (a client gone) fails the pipeline too.
      const failed = upstream.map((u) => new Promise<never>((_, reject) => u.once('error', reject)));
      await Promise.race([pipeline(source, counter, fs.createWriteStream(file)), ...failed]);
    } catch (e) {
      source.destroy();
      fs.rmSync(file, { force: true });
      throw e;
    }
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const [a, h] of hashers) checksums[a] = h.digest();
    return { file, size, md5: md5.digest('hex'), sha256: sha256.digest('hex'), checksums, trailer: {} };
  }

  /**
   * Moves a received body into place as the key's new version and records it; the object exists
   * from here on. `check` sees the current version (or none) at the moment of the switch and may
   * throw to refuse it (conditional writes).
   */
  commit(bucket: string, key: string, tmpFile: string, size: number, etag: string, attributes: ObjectAttributes,
    check?: (current: ObjectMeta | undefined) => void): ObjectMeta {
    const objects = this.bucket(bucket);
    try {
      check?.(objects.get(key));
    } catch (e) {
      fs.rmSync(tmpFile, { force: true });
      throw e;
    }
    const version = randomUUID().replace(/-/g, '');
    const meta: ObjectMeta = {
      key,
      size,
      etag,
      lastModified: new Date().toISOString(),
      contentType: attributes.contentType,
      metadata: attributes.metadata,
      sequencer: this.nextSequencer(),
      version,
      ...(attributes.headers && Object.keys(attributes.headers).length ? { headers: attributes.headers } : {}),
      ...(attributes.parts ? { parts: attributes.parts } : {}),
      ...(attributes.checksum ? { checksum: attributes.checksum } : {}),
    };
    // The bytes first, under a name of their own; then the pointer, in one rename.
    fs.renameSync(tmpFile, this.dataPath(bucket, version));
    const pointer = this.tmpPath();
    fs.writeFileSync(pointer, JSON.stringify(meta));
    fs.renameSync(pointer, this.pointerPath(bucket, key));
    const previous = objects.get(key);
    objects.set(key, meta);
    if (previous) fs.rmSync(this.dataPath(bucket, previous.version), { force: true });
    return meta;
  }

  /**
   * The next S3 event sequencer: each is greater than every one before it (as S3's are for the
   * events of one key), for uploads and deletes alike.
   */
  nextSequencer(): string {
    return (Date.now() * 1000 + (this.sequence++ % 1000)).toString(16).toUpperCase().padStart(16, '0');
  }

  deleteObject(bucket: string, key: string): boolean {
    const objects = this.bucket(bucket);
    const meta = objects.get(key);
    if (!meta) return false;
    fs.rmSync(this.pointerPath(bucket, key), { force: true });
    objects.delete(key);
    fs.rmSync(this.dataPath(bucket, meta.version), { force: true });
    return true;
  }

  private bucketDir(bucket: string): string {
    return path.join(this.root, 'buckets', bucket);
  }

  private pointerPath(bucket: string, key: string): string {
    return path.join(this.bucketDir(bucket), 'keys', `${createHash('sha256').update(key, 'utf8').digest('hex')}.json`);
  }

  private dataPath(bucket: string, version: string): string {
    return path.join(this.bucketDir(bucket), 'data', version);
  }

  private loadIndex(): void {
    this.index.clear();
    for (const bucket of fs.readdirSync(path.join(this.root, 'buckets'))) {
      const dir = this.bucketDir(bucket);
      if (!fs.statSync(dir).isDirectory()) continue;
      fs.mkdirSync(path.join(dir, 'keys'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
      this.migrate(bucket);
      const objects = new Map<string, ObjectMeta>();
      for (const f of fs.readdirSync(path.join(dir, 'keys'))) {
        if (!f.endsWith('.json')) continue;
        try {
          const meta = JSON.parse(fs.readFileSync(path.join(dir, 'keys', f), 'utf8')) as ObjectMeta;
          if (fs.existsSync(this.dataPath(bucket, meta.version))) objects.set(meta.key, meta);
        } catch {
          // not a pointer this store wrote
        }
      }
      const live = new Set([...objects.values()].map((m) => m.version));
      for (const f of fs.readdirSync(path.join(dir, 'data'))) {
        if (!live.has(f)) fs.rmSync(path.join(dir, 'data', f), { force: true }); // written, never pointed to
      }
      this.index.set(bucket, objects);
    }
  }

  /** Moves objects of the earlier layout (`objects/<hash>` and `<hash>.meta.json`) into this one. */
  private migrate(bucket: string): void {
    const old = path.join(this.bucketDir(bucket), 'objects');
    if (!fs.existsSync(old)) return;
    for (const f of fs.readdirSync(old)) {
      if (!f.endsWith('.meta.json')) continue;
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(old, f), 'utf8')) as ObjectMeta;
        const bytes = path.join(old, f.slice(0, -'.meta.json'.length));
        if (!fs.existsSync(bytes)) continue;
        const version = randomUUID().replace(/-/g, '');
        fs.renameSync(bytes, this.dataPath(bucket, version));
        const pointer = this.tmpPath();
        fs.writeFileSync(pointer, JSON.stringify({ ...meta, version }));
        fs.renameSync(pointer, this.pointerPath(bucket, meta.key));
      } catch {
        // a sidecar cut short by a crash: the object was never acknowledged
      }
    }
    fs.rmSync(old, { recursive: true, force: true });
  }
}

/** S3 orders keys by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Whether a request body is aws-chunked encoded: a streaming payload, or the aws-chunked content
 * encoding with its decoded length. A Content-Encoding of aws-chunked alone is only a header.
 */
export function isAwsChunked(req: http.IncomingMessage): boolean {
  return String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')
    || (String(req.headers['content-encoding'] ?? '').split(',').some((t) => t.trim() === 'aws-chunked')
      && req.headers['x-amz-decoded-content-length'] !== undefined);
}

export { CHECKSUM_ALGORITHMS };
