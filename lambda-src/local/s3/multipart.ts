/**
 * Multipart uploads: each upload a folder `<root>/tmp/upload-<id>` holding its parts (and each
 * part's MD5), joined into one object on completion with S3's multipart ETag.
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import * as path from 'path';
import { S3Error } from './errors';
import type { ObjectMeta, ObjectStore } from './object-store';
import { contentTypeOf, drain, readAll, userMetadata } from './request';
import { send, sendXml, xml, XMLNS } from './xml';

interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
}

export class MultipartUploads {
  private readonly uploads = new Map<string, Upload>();

  constructor(private readonly store: ObjectStore) {}

  /** CreateMultipartUpload. */
  async create(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): Promise<void> {
    this.store.bucket(bucket);
    await drain(req);
    const id = randomUUID().replace(/-/g, '');
    fs.mkdirSync(this.folder(id), { recursive: true });
    this.uploads.set(id, { bucket, key, contentType: contentTypeOf(req), metadata: userMetadata(req) });
    sendXml(res, `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
  }

  /** UploadPart. */
  async uploadPart(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): Promise<void> {
    const id = q.get('uploadId')!;
    if (!this.uploads.has(id)) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', id);
    const part = Number(q.get('partNumber'));
    if (!Number.isInteger(part) || part < 1 || part > 10000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    }
    const tmp = await this.store.receiveBody(req);
    fs.renameSync(tmp.file, path.join(this.folder(id), String(part)));
    fs.writeFileSync(path.join(this.folder(id), `${part}.md5`), tmp.md5);
    send(res, 200, '', { ETag: `"${tmp.md5}"` });
  }

  /** CompleteMultipartUpload: the object is committed and returned, for its notification. */
  async complete(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, id: string): Promise<ObjectMeta> {
    const upload = this.uploads.get(id);
    if (!upload) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', id);
    const body = (await readAll(req)).toString('utf8');
    const parts = [...body.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map((m) => Number(m[1]));
    const dir = this.folder(id);
    const tmp = this.store.tmpPath();
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
    const meta = this.store.commit(upload.bucket, upload.key, tmp, size, etag, upload.contentType, upload.metadata);
    this.discard(id);
    sendXml(res, `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><ETag>&quot;${etag}&quot;</ETag></CompleteMultipartUploadResult>`);
    return meta;
  }

  /** AbortMultipartUpload, and the clean-up after a completion. */
  discard(id: string): void {
    this.uploads.delete(id);
    fs.rmSync(this.folder(id), { recursive: true, force: true });
  }

  private folder(id: string): string {
    return this.store.tmpPath(`upload-${id}`);
  }
}
