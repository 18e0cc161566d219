/**
 * The endpoint's objects on disk: `<root>/buckets/<bucket>/objects/<sha256 of key>` holds the
 * bytes and `<same>.meta.json` the metadata, written after the bytes, so an object exists once its
 * sidecar does. Bodies arrive in `<root>/tmp` and are renamed into place. An index in memory,
 * rebuilt from the sidecars at start, answers listings.
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import * as path from 'path';
import { Transform } from 'stream';
import { pipeline } from 'stream/promises';
import { AwsChunkedDecoder } from './aws-chunked';
import { S3Error } from './errors';

export interface ObjectMeta {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly sequencer: string;
}

/** A request body stored in a temporary file. */
export interface ReceivedBody {
  readonly file: string;
  readonly size: number;
  readonly md5: string;
}

export class ObjectStore {
  private readonly index = new Map<string, Map<string, ObjectMeta>>();
  private sequence = 0;

  constructor(readonly root: string) {}

  /** Creates the folders if missing and reads the objects already there. */
  open(): void {
    fs.mkdirSync(path.join(this.root, 'buckets'), { recursive: true });
    fs.mkdirSync(path.join(this.root, 'tmp'), { recursive: true });
    this.loadIndex();
  }

  /** The bucket names, sorted. */
  bucketNames(): string[] {
    return [...this.index.keys()].sort();
  }

  /** When a bucket was created, as an ISO date. */
  bucketCreated(bucket: string): string {
    return fs.statSync(path.join(this.root, 'buckets', bucket)).birthtime.toISOString();
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

  deleteBucket(bucket: string): void {
    if (this.bucket(bucket).size > 0) {
      throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', bucket);
    }
    fs.rmSync(path.join(this.root, 'buckets', bucket), { recursive: true, force: true });
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
    return [...(this.index.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort();
  }

  objectPath(bucket: string, key: string): string {
    // One flat file per key: keys like `a` and `a/b` can both exist.
    const name = createHash('sha256').update(key).digest('hex');
    return path.join(this.root, 'buckets', bucket, 'objects', name);
  }

  /** A new path in the temporary folder. */
  tmpPath(name: string = randomUUID()): string {
    return path.join(this.root, 'tmp', name);
  }

  /** Copies an object's bytes to a temporary file, for a commit under another key. */
  copyToTmp(bucket: string, key: string): string {
    const tmp = this.tmpPath();
    fs.copyFileSync(this.objectPath(bucket, key), tmp);
    return tmp;
  }

  /** Streams a request body to a temporary file, decoding aws-chunked bodies. */
  async receiveBody(req: http.IncomingMessage): Promise<ReceivedBody> {
    const file = this.tmpPath();
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
  commit(bucket: string, key: string, tmpFile: string, size: number, etag: string,
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
    const sidecar = this.tmpPath();
    fs.writeFileSync(sidecar, JSON.stringify(meta));
    fs.renameSync(sidecar, `${file}.meta.json`);
    this.bucket(bucket).set(key, meta);
    return meta;
  }

  deleteObject(bucket: string, key: string): boolean {
    const objects = this.bucket(bucket);
    if (!objects.has(key)) return false;
    objects.delete(key);
    const file = this.objectPath(bucket, key);
    fs.rmSync(`${file}.meta.json`, { force: true });
    fs.rmSync(file, { force: true });
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
}
