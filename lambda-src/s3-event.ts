/**
 * S3 event notifications: the record S3 sends to Lambda for an object created, and the encoding
 * of the object key inside it (URL-encoded, `+` for a space, `/` kept). The local endpoint builds
 * its notifications with these, the backfill sends the same records, and readers decode keys with
 * `decodeKey`.
 */
import { randomBytes } from 'crypto';

/** An S3 event notification record, as S3 sends it to Lambda. */
export interface S3EventRecord {
  readonly eventVersion: string;
  readonly eventSource: 'aws:s3';
  readonly awsRegion: string;
  readonly eventTime: string;
  readonly eventName: string;
  readonly userIdentity: { principalId: string };
  readonly requestParameters: { sourceIPAddress: string };
  readonly responseElements: Record<string, string>;
  readonly s3: {
    readonly s3SchemaVersion: '1.0';
    readonly configurationId: string;
    readonly bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    /** No size or eTag in an ObjectRemoved record. */
    readonly object: { key: string; size?: number; eTag?: string; sequencer: string };
  };
}

/** The principal of the local endpoint's notifications. */
const LOCAL_PRINCIPAL = 'AWS:LOCAL';

/**
 * A notification record for an object, exactly as S3 shapes it: ObjectCreated (by default) with
 * the object's size and eTag, or ObjectRemoved, which has neither.
 */
export function s3EventRecord(o: {
  readonly bucket: string;
  readonly key: string;
  readonly size?: number;
  readonly eTag?: string;
  readonly eventName?: string;
  readonly sequencer?: string;
  readonly time?: string;
  readonly region?: string;
  readonly sourceIp?: string;
  readonly principal?: string;
}): S3EventRecord {
  const principal = o.principal ?? LOCAL_PRINCIPAL;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: o.region ?? 'us-east-1',
    eventTime: o.time ?? new Date().toISOString(),
    eventName: o.eventName ?? 'ObjectCreated:Put',
    userIdentity: { principalId: principal },
    requestParameters: { sourceIPAddress: o.sourceIp ?? '127.0.0.1' },
    responseElements: { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(), 'x-amz-id-2': randomBytes(24).toString('base64') },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'image-pipeline',
      bucket: { name: o.bucket, ownerIdentity: { principalId: principal }, arn: `arn:aws:s3:::${o.bucket}` },
      object: {
        key: encodeEventKey(o.key),
        ...(o.size === undefined ? {} : { size: o.size }),
        ...(o.eTag === undefined ? {} : { eTag: o.eTag.replace(/"/g, '') }),
        sequencer: o.sequencer ?? '0',
      },
    },
  };
}

/**
 * Encodes a key as S3 event notifications do: URL-encoded, with `+` for a space and `/` kept.
 */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
}

/** S3 event keys are URL-encoded with `+` for a space. */
export function decodeKey(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}
