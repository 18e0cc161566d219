/**
 * Multipart uploads, kept on disk so they outlive a restart: each upload a folder
 * `<root>/uploads/<id>` with `upload.json` (the key and what the object is created with), and for
 * each part an immutable file `<n>-<version>` named by the pointer `<n>.json` (its ETag, size and
 * checksum), replaced with one rename when the part is sent again. Completion checks the part list
 * as S3 does and joins the parts into one object with S3's multipart ETag.
 */
import { createHash, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { ChecksumAlgorithm } from './checksums';
import { compositeChecksum } from './checksums';
import { S3Error } from './errors';
import type { ObjectAttributes, ObjectMeta, ObjectStore, ReceivedBody } from './object-store';
import { compareKeys } from './object-store';

export const MIN_PART_SIZE = 5 * 1024 * 1024;

export interface Upload {
  readonly id: string;
  readonly bucket: string;
  readonly key: string;
  readonly initiated: string;
  readonly attributes: ObjectAttributes;
  readonly checksumAlgorithm?: ChecksumAlgorithm;
}

export interface Part {
  readonly number: number;
  readonly etag: string;
  readonly size: number;
  readonly lastModified: string;
  readonly file: string;
  readonly checksum?: string;
}

/** A part as a CompleteMultipartUpload request lists it. */
export interface ListedPart {
  readonly number: number;
  readonly etag: string;
  readonly checksum?: string;
}

/** A completed upload, kept to answer a retried completion as S3 does. */
interface Completed {
  readonly bucket: string;
  readonly key: string;
  readonly etag: string;
  readonly checksum?: string;
}

export class MultipartUploads {
  private readonly uploads = new Map<string, Upload>();
  private readonly parts = new Map<string, Map<number, Part>>();
  private readonly completed = new Map<string, Completed>();

  constructor(private readonly store: ObjectStore) {}

  /** Reads the uploads under way from disk. */
  open(): void {
    const root = path.join(this.store.root, 'uploads');
    fs.mkdirSync(root, { recursive: true });
    this.uploads.clear();
    this.parts.clear();
    for (const id of fs.readdirSync(root)) {
      try {
        const upload = JSON.parse(fs.readFileSync(path.join(root, id, 'upload.json'), 'utf8')) as Upload;
        const parts = new Map<number, Part>();
        const live = new Set<string>(['upload.json']);
        for (const f of fs.readdirSync(path.join(root, id))) {
          if (!/^\d+\.json$/.test(f)) continue;
          const part = JSON.parse(fs.readFileSync(path.join(root, id, f), 'utf8')) as Part;
          parts.set(part.number, part);
          live.add(f).add(part.file);
        }
        for (const f of fs.readdirSync(path.join(root, id))) {
          if (!live.has(f)) fs.rmSync(path.join(root, id, f), { force: true });
        }
        this.uploads.set(id, upload);
        this.parts.set(id, parts);
      } catch {
        fs.rmSync(path.join(root, id), { recursive: true, force: true }); // created, never acknowledged
      }
    }
  }

  /** CreateMultipartUpload. */
  create(bucket: string, key: string, attributes: ObjectAttributes, checksumAlgorithm?: ChecksumAlgorithm): Upload {
    this.store.bucket(bucket);
    const id = randomUUID().replace(/-/g, '');
    const upload: Upload = { id, bucket, key, initiated: new Date().toISOString(), attributes, checksumAlgorithm };
    const dir = this.folder(id);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = this.store.tmpPath();
    fs.writeFileSync(tmp, JSON.stringify(upload));
    fs.renameSync(tmp, path.join(dir, 'upload.json'));
    this.uploads.set(id, upload);
    this.parts.set(id, new Map());
    return upload;
  }

  /** An upload under way; NoSuchUpload if there is none of that id for that bucket and key. */
  get(bucket: string, key: string, id: string | null): Upload {
    const upload = this.uploads.get(id ?? '');
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', id ?? '');
    }
    return upload;
  }

  /** The uploads of a bucket under way, by key then initiation. */
  list(bucket: string, prefix = ''): Upload[] {
    return [...this.uploads.values()].filter((u) => u.bucket === bucket && u.key.startsWith(prefix))
      .sort((a, b) => compareKeys(a.key, b.key) || a.initiated.localeCompare(b.initiated));
  }

  /** An upload's parts, by number. */
  listParts(upload: Upload): Part[] {
    return [...(this.parts.get(upload.id)?.values() ?? [])].sort((a, b) => a.number - b.number);
  }

  /** UploadPart and UploadPartCopy: a received body becomes part `number`, replacing any before. */
  putPart(upload: Upload, number: number, body: ReceivedBody, checksum?: string): Part {
    const dir = this.folder(upload.id);
    const file = `${number}-${randomUUID().replace(/-/g, '')}`;
    const part: Part = { number, etag: body.md5, size: body.size, lastModified: new Date().toISOString(), file, checksum };
    fs.renameSync(body.file, path.join(dir, file));
    const tmp = this.store.tmpPath();
    fs.writeFileSync(tmp, JSON.stringify(part));
    fs.renameSync(tmp, path.join(dir, `${number}.json`));
    const parts = this.parts.get(upload.id)!;
    const previous = parts.get(number);
    parts.set(number, part);
    if (previous) fs.rmSync(path.join(dir, previous.file), { force: true });
    return part;
  }

  /** A retried completion of an upload completed before: its ETag and checksum. */
  completedBefore(bucket: string, key: string, id: string | null): Completed | undefined {
    const done = this.completed.get(id ?? '');
    return done && done.bucket === bucket && done.key === key ? done : undefined;
  }

  /**
   * Checks a completion's part list as S3 does and opens the parts it names; the caller joins them
   * (`join`) and commits the object.
   */
  prepare(upload: Upload, listed: ListedPart[], requestChecksum?: string): { fds: number[]; sizes: number[]; etag: string; checksum?: string } {
    if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    const parts = this.parts.get(upload.id)!;
    const chosen: Part[] = [];
    let previous = 0;
    // A part number listed twice in a row (a part sent again): the later entry counts.
    const deduplicated = listed.filter((l, i) => listed[i + 1]?.number !== l.number);
    for (const l of deduplicated) {
      if (l.number <= previous) throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
      previous = l.number;
      const part = parts.get(l.number);
      if (!part || part.etag !== l.etag.replace(/^"|"$/g, '').toLowerCase()) {
        throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part\'s entity tag.', upload.key);
      }
      if (upload.checksumAlgorithm && part.checksum && l.checksum !== part.checksum) {
        throw new S3Error(400, 'BadDigest', `The ${upload.checksumAlgorithm} checksum of part ${l.number} is missing or does not match`);
      }
      chosen.push(part);
    }
    for (const p of chosen.slice(0, -1)) {
      if (p.size < MIN_PART_SIZE) throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', upload.key);
    }
    let checksum: string | undefined;
    if (upload.checksumAlgorithm && chosen.every((p) => p.checksum)) {
      checksum = compositeChecksum(upload.checksumAlgorithm, chosen.map((p) => p.checksum!));
    }
    if (requestChecksum !== undefined && requestChecksum !== checksum) {
      throw new S3Error(400, 'BadDigest', `The ${upload.checksumAlgorithm ?? ''} checksum you specified did not match the parts' checksums`.replace('  ', ' '));
    }
    const md5s = Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')));
    const etag = `${createHash('md5').update(md5s).digest('hex')}-${chosen.length}`;
    const dir = this.folder(upload.id);
    const fds: number[] = [];
    try {
      for (const p of chosen) fds.push(fs.openSync(path.join(dir, p.file), 'r'));
    } catch (e) {
      for (const fd of fds) fs.closeSync(fd);
      throw e;
    }
    return { fds, sizes: chosen.map((p) => p.size), etag, checksum };
  }

  /** Concatenates opened parts into a new temporary file, closing them. */
  async join(fds: number[]): Promise<string> {
    const tmp = this.store.tmpPath();
    const out = await fs.promises.open(tmp, 'w');
    const buffer = Buffer.alloc(1024 * 1024);
    try {
      for (const fd of fds) {
        let position = 0;
        for (;;) {
          const n = fs.readSync(fd, buffer, 0, buffer.length, position);
          if (n === 0) break;
          await out.write(buffer, 0, n);
          position += n;
        }
      }
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    } finally {
      await out.close();
      for (const fd of fds) fs.closeSync(fd);
    }
    return tmp;
  }

  /** Records a completion (for a retried one) and removes the upload. */
  finish(upload: Upload, meta: ObjectMeta): void {
    this.completed.set(upload.id, { bucket: upload.bucket, key: upload.key, etag: meta.etag, checksum: meta.checksum?.value });
    if (this.completed.size > 10000) this.completed.delete(this.completed.keys().next().value!);
    this.discard(upload.id);
  }

  /** AbortMultipartUpload. */
  discard(id: string): void {
    if (!this.uploads.has(id)) return;
    this.uploads.delete(id);
    this.parts.delete(id);
    fs.rmSync(this.folder(id), { recursive: true, force: true });
  }

  private folder(id: string): string {
    return path.join(this.store.root, 'uploads', id);
  }
}
