/**
 * Writes to the output bucket in upload order: the newest upload of a key always wins, whatever
 * order its events run in.
 *
 * Every object written for an upload (its outputs, or its failure record) carries the upload's
 * S3 event `sequencer` in its metadata. A write is a compare-and-swap with S3's conditional
 * writes: `If-None-Match: *` where nothing is there yet, `If-Match: <ETag>` over an object that a
 * HeadObject showed to come from an older upload of the same key. An object from a newer upload
 * is never replaced: the older event learns that it has been superseded and stops.
 *
 * S3 documents the sequencer as the way to order the events of one key: "the event notification
 * with the greater sequencer hexadecimal value is the event that occurred later", compared after
 * left-padding the shorter value with zeros (Amazon S3 User Guide, "Event message structure").
 * Sequencers of different keys do not compare: an output that already holds another input key's
 * result is a collision, logged and counted, and the last writer wins.
 */
import { createHash } from 'crypto';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { LIMITS, MAX_SOURCE_KEY_METADATA, metadataBytes, SOURCE_METADATA } from '../src/contract';

/** The upload a write comes from. */
export interface Source {
  readonly key: string;
  readonly eTag?: string;
  readonly sequencer?: string;
}

/** What is already at an output key. */
export interface Existing {
  readonly eTag: string;
  readonly metadata: Record<string, string>;
}

/** How an object already there compares with the upload about to write over it. */
export type Order = 'older' | 'newer' | 'same' | 'other-key';

/**
 * The user metadata that records `source` on an object. `room`: the bytes of S3's user metadata
 * left to it (by an output's own metadata); `source-key` is left out when it does not fit.
 */
export function sourceMetadata(source: Source, room: number = LIMITS.userMetadataBytes): Record<string, string> {
  const encoded = encodeURIComponent(source.key);
  const required = {
    [SOURCE_METADATA.keyHash]: keyHash(source.key),
    [SOURCE_METADATA.eTag]: unquote(source.eTag ?? ''),
    [SOURCE_METADATA.sequencer]: source.sequencer ?? '',
  };
  const fits = encoded.length <= MAX_SOURCE_KEY_METADATA
    && metadataBytes(required) + SOURCE_METADATA.key.length + encoded.length <= room;
  return {
    ...(fits ? { [SOURCE_METADATA.key]: encoded } : {}),
    ...required,
  };
}

/** SHA-256 of a key's UTF-8 bytes, hex. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Compares two sequencers of one key as S3 says: left-padded with zeros to one length, then as strings. */
export function compareSequencers(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const x = a.toUpperCase().padStart(width, '0');
  const y = b.toUpperCase().padStart(width, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * How `existing` (an object's metadata) stands against `source`. An object with no sequencer
 * (written before sequencers were recorded, or by hand) counts as older. An event without a
 * sequencer (a backfill sends none) is ordered by eTag alone: it may only rewrite results of the
 * same object version.
 */
export function orderOf(existing: Record<string, string>, source: Source): Order {
  const theirHash = existing[SOURCE_METADATA.keyHash];
  if (theirHash !== undefined && theirHash !== keyHash(source.key)) return 'other-key';
  const theirs = existing[SOURCE_METADATA.sequencer] ?? '';
  if (theirs === '' || /^0*$/.test(theirs)) return 'older';
  const ours = source.sequencer ?? '';
  if (ours === '' || /^0*$/.test(ours)) {
    return existing[SOURCE_METADATA.eTag] === unquote(source.eTag ?? '') ? 'same' : 'newer';
  }
  const c = compareSequencers(theirs, ours);
  return c < 0 ? 'older' : c > 0 ? 'newer' : 'same';
}

export interface PutRequest {
  readonly key: string;
  readonly body: Buffer | string;
  readonly contentType: string;
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  /** User metadata; the source's (`source-*`) is written over it. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Attempts of one compare-and-swap before the write is left to Lambda's retries. */
const ATTEMPTS = 8;

export class OrderedWriter {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly onCollision: (outputKey: string, existing: Existing) => void,
  ) {}

  /**
   * Writes `put` unless an object from a newer upload of the same key is there.
   * @returns the written object's ETag, or undefined when a newer upload's object is there
   */
  async put(put: PutRequest, source: Source): Promise<string | undefined> {
    const Metadata = put.metadata === undefined ? sourceMetadata(source)
      : { ...put.metadata, ...sourceMetadata(source, LIMITS.userMetadataBytes - metadataBytes(put.metadata)) };
    let collided = false;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const existing = attempt === 0 ? undefined : await this.head(put.key);
      if (existing !== undefined) {
        const order = orderOf(existing.metadata, source);
        if (order === 'newer') return undefined;
        if (order === 'other-key' && !collided) {
          collided = true;
          this.onCollision(put.key, existing);
        }
      }
      try {
        const res = await this.s3.send(new PutObjectCommand({
          Bucket: this.bucket,
          Key: put.key,
          Body: put.body,
          ContentType: put.contentType,
          ...(put.cacheControl === undefined ? {} : { CacheControl: put.cacheControl }),
          ...(put.contentDisposition === undefined ? {} : { ContentDisposition: put.contentDisposition }),
          Metadata,
          ...(existing === undefined ? { IfNoneMatch: '*' } : { IfMatch: existing.eTag }),
        }));
        return res?.ETag ?? '';
      } catch (e) {
        // Someone wrote (or removed) the object since we looked: look again.
        if (!isConditionFailure(e)) throw e;
      }
    }
    throw new Error(`s3://${this.bucket}/${put.key} kept changing during ${ATTEMPTS} conditional writes`);
  }

  /**
   * Makes `key` hold nothing older than `source`: an object from an older upload of the same key
   * is deleted (only while it is still that object). One HeadObject when there is nothing to do.
   * @returns true when an object from a newer upload is there, which `source` must give way to
   */
  async newerAfterClearingOlder(key: string, source: Source): Promise<boolean> {
    return (await this.clearOlder(key, source)) === 'newer';
  }

  /**
   * As `newerAfterClearingOlder`, telling what it found: `newer` (an object from a newer upload,
   * left alone), `removed` (an object from an older upload, deleted), `kept` (nothing there, or
   * nothing to remove).
   */
  async clearOlder(key: string, source: Source): Promise<'newer' | 'removed' | 'kept'> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const existing = await this.head(key);
      if (existing === undefined) return 'kept';
      const order = orderOf(existing.metadata, source);
      if (order === 'newer') return 'newer';
      if (order !== 'older') return 'kept';
      if (await this.deleteIfMatch(key, existing.eTag)) return 'removed';
    }
    return 'kept';
  }

  /**
   * Deletes the object at `key` only while it is still the one with `eTag` (S3's conditional
   * delete): a newer object written there since is left alone.
   */
  async deleteIfMatch(key: string, eTag: string): Promise<boolean> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: eTag }));
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  /**
   * The object at `key`, or undefined if there is none. The function may read every key under
   * its output prefix but not list the bucket, and S3 answers a missing key with 403 rather than
   * 404 to a caller without s3:ListBucket ("If you don't have the s3:ListBucket permission,
   * Amazon S3 returns an HTTP status code 403", HeadObject in the Amazon S3 API Reference): under
   * the output prefix, 403 means absent.
   */
  async head(key: string): Promise<Existing | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!res?.ETag) return undefined;
      return { eTag: res.ETag, metadata: res.Metadata ?? {} };
    } catch (e) {
      const status = statusOf(e);
      if (status === 404 || status === 403) return undefined;
      throw e;
    }
  }
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** 412 (the condition did not hold), 409 (a concurrent conditional write), 404 (If-Match on a key now gone). */
function isConditionFailure(e: unknown): boolean {
  const status = statusOf(e);
  const name = (e as { name?: string })?.name;
  return status === 412 || status === 409 || status === 404
    || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || name === 'NoSuchKey';
}

function unquote(eTag: string): string {
  return eTag.replace(/"/g, '');
}
