/**
 * An in-memory S3 behind aws-sdk-client-mock, with S3's conditional requests (If-Match and
 * If-None-Match on GetObject, PutObject and DeleteObject), and holds: a test stops one client's
 * command at a chosen point and releases it when it likes, to run events in the order it chooses.
 */
import { createHash } from 'crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

export interface StoredObject {
  readonly body: Buffer;
  readonly eTag: string;
  readonly metadata: Record<string, string>;
  readonly contentType?: string;
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
}

type CommandName = 'GetObject' | 'PutObject' | 'HeadObject' | 'DeleteObject';

interface Hold {
  readonly client: string;
  readonly command: CommandName;
  readonly reached: Promise<void>;
  arrive: () => void;
  release: () => void;
  gate: Promise<void>;
  used: boolean;
}

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: `${name} (${status})` });
}

interface PutInput {
  Bucket: string;
  Key: string;
  Body: Buffer | string;
  IfMatch?: string;
  IfNoneMatch?: string;
  Metadata?: Record<string, string>;
  ContentType?: string;
  CacheControl?: string;
  ContentDisposition?: string;
}

export class FakeS3 {
  readonly objects = new Map<string, StoredObject>();
  private readonly names = new WeakMap<object, string>();
  private readonly holds: Hold[] = [];
  private readonly mock = mockClient(S3Client);

  constructor() {
    this.mock.on(GetObjectCommand).callsFake((input, getClient) => this.run('GetObject', getClient(), () => this.get(input)));
    this.mock.on(PutObjectCommand).callsFake((input, getClient) => this.run('PutObject', getClient(), () => this.put(input)));
    this.mock.on(HeadObjectCommand).callsFake((input, getClient) => this.run('HeadObject', getClient(), () => this.head(input)));
    this.mock.on(DeleteObjectCommand).callsFake((input, getClient) => this.run('DeleteObject', getClient(), () => this.delete(input)));
  }

  /** A client whose commands holds can single out by `name`. */
  client(name: string): S3Client {
    const c = new S3Client({ region: 'us-east-1' });
    this.names.set(c, name);
    return c;
  }

  /**
   * Stops the next `command` of client `name` before it runs. `reached` resolves when it is
   * waiting; `release()` lets it go on.
   */
  hold(name: string, command: CommandName): { reached: Promise<void>; release: () => void } {
    let arrive!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => { arrive = r; });
    const gate = new Promise<void>((r) => { release = r; });
    const h: Hold = { client: name, command, reached, arrive, release, gate, used: false };
    this.holds.push(h);
    return { reached, release };
  }

  /** Writes an object as an upload would; returns its eTag (unquoted). */
  upload(bucket: string, key: string, body: Buffer, metadata: Record<string, string> = {}): string {
    const eTag = createHash('md5').update(body).digest('hex');
    this.objects.set(`${bucket}/${key}`, { body, eTag: `"${eTag}"`, metadata });
    return eTag;
  }

  object(bucket: string, key: string): StoredObject | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }

  keys(bucket: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1)).sort();
  }

  restore(): void {
    this.mock.restore();
  }

  private async run<T>(command: CommandName, client: object, fn: () => T): Promise<T> {
    const name = this.names.get(client);
    const hold = this.holds.find((h) => !h.used && h.client === name && h.command === command);
    if (hold) {
      hold.used = true;
      hold.arrive();
      await hold.gate;
    }
    return fn();
  }

  private get(input: { Bucket: string; Key: string; IfMatch?: string }) {
    const o = this.objects.get(`${input.Bucket}/${input.Key}`);
    if (!o) throw s3Error('NoSuchKey', 404);
    if (input.IfMatch !== undefined && input.IfMatch !== o.eTag) throw s3Error('PreconditionFailed', 412);
    const bytes = o.body;
    return {
      ETag: o.eTag,
      Metadata: o.metadata,
      Body: { transformToByteArray: async () => new Uint8Array(bytes) },
    };
  }

  private put(input: PutInput) {
    const id = `${input.Bucket}/${input.Key}`;
    const existing = this.objects.get(id);
    if (input.IfNoneMatch === '*' && existing) throw s3Error('PreconditionFailed', 412);
    if (input.IfMatch !== undefined) {
      if (!existing) throw s3Error('NoSuchKey', 404);
      if (existing.eTag !== input.IfMatch) throw s3Error('PreconditionFailed', 412);
    }
    const body = Buffer.from(input.Body);
    const eTag = `"${createHash('md5').update(body).update(String(Math.random())).digest('hex')}"`;
    this.objects.set(id, {
      body,
      eTag,
      metadata: { ...input.Metadata },
      contentType: input.ContentType,
      cacheControl: input.CacheControl,
      contentDisposition: input.ContentDisposition,
    });
    return { ETag: eTag };
  }

  private head(input: { Bucket: string; Key: string }) {
    const o = this.objects.get(`${input.Bucket}/${input.Key}`);
    // S3 answers 403 for a missing key to a caller without s3:ListBucket, as the function is
    if (!o) throw s3Error('Forbidden', 403);
    return { ETag: o.eTag, Metadata: o.metadata, ContentLength: o.body.length };
  }

  private delete(input: { Bucket: string; Key: string; IfMatch?: string }) {
    const id = `${input.Bucket}/${input.Key}`;
    const o = this.objects.get(id);
    if (input.IfMatch !== undefined) {
      if (!o) throw s3Error('NoSuchKey', 404);
      if (o.eTag !== input.IfMatch) throw s3Error('PreconditionFailed', 412);
    }
    this.objects.delete(id);
    return {};
  }
}
