/** The listings: buckets, objects (ListObjects v1 and v2), the parts of an upload and the uploads under way. */
import type * as http from 'http';
import { S3Error } from './errors';
import type { MultipartUploads, Upload } from './multipart';
import { compareKeys, type ObjectMeta, type ObjectStore } from './object-store';
import { OWNER, sendXml, xml, XMLNS } from './xml';

export function listBuckets(store: ObjectStore, res: http.ServerResponse): void {
  const buckets = store.bucketNames().map((b) => {
    const created = store.bucketCreated(b);
    return `<Bucket><Name>${xml(b)}</Name><CreationDate>${created}</CreationDate></Bucket>`;
  }).join('');
  sendXml(res, `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
}

export function listObjects(store: ObjectStore, res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
  const v2 = q.get('list-type') === '2';
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeysText = q.get('max-keys');
  if (maxKeysText !== null && !/^\d+$/.test(maxKeysText)) {
    throw new S3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', 'max-keys');
  }
  const maxKeys = Math.min(1000, maxKeysText === null ? 1000 : Number(maxKeysText));
  const encode = q.get('encoding-type') === 'url';
  const token = q.get('continuation-token');
  let after: string;
  if (v2 && token) {
    after = Buffer.from(token, 'base64url').toString('utf8');
  } else {
    after = (v2 ? q.get('start-after') : q.get('marker')) ?? '';
  }
  const objects = store.bucket(bucket);
  const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
  /** A key's entry in this listing: itself, or the common prefix it rolls up into. */
  const entryOf = (k: string): { common?: string } => {
    if (!delimiter) return {};
    const cut = k.indexOf(delimiter, prefix.length);
    return cut < 0 ? {} : { common: k.slice(0, cut + delimiter.length) };
  };

  const contents: ObjectMeta[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let last = '';
  for (const k of keys) {
    const { common } = entryOf(k);
    const name = common ?? k;
    // Past the marker: a common prefix equal to the marker was listed already.
    if (after && compareKeys(name, after) <= 0) continue;
    if (common !== undefined && prefixes[prefixes.length - 1] === common) continue;
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = maxKeys > 0;
      break;
    }
    if (common !== undefined) prefixes.push(common);
    else contents.push(objects.get(k)!);
    last = name;
  }
  const enc = (s: string) => xml(encode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const owner = `<Owner><ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName></Owner>`;
  const withOwner = !v2 || q.get('fetch-owner') === 'true';
  const items = contents.map((o) => `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.lastModified}</LastModified>`
    + `<ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size>`
    + (o.checksum ? `<ChecksumAlgorithm>${o.checksum.algorithm}</ChecksumAlgorithm>` : '')
    + `<StorageClass>STANDARD</StorageClass>${withOwner ? owner : ''}</Contents>`).join('');
  const common = prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('');
  // ListObjects (v1) returns its Prefix as sent; v2 encodes it with the keys.
  const head = `<Name>${xml(bucket)}</Name><Prefix>${v2 ? enc(prefix) : xml(prefix)}</Prefix>`
    + (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '')
    + `<MaxKeys>${maxKeys}</MaxKeys>` + (encode ? '<EncodingType>url</EncodingType>' : '')
    + `<IsTruncated>${truncated}</IsTruncated>`;
  const paging = v2
    ? `<KeyCount>${contents.length + prefixes.length}</KeyCount>`
      + (token !== null ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '')
      + (q.get('start-after') !== null ? `<StartAfter>${enc(q.get('start-after')!)}</StartAfter>` : '')
      + (truncated ? `<NextContinuationToken>${Buffer.from(last, 'utf8').toString('base64url')}</NextContinuationToken>` : '')
    : `<Marker>${enc(q.get('marker') ?? '')}</Marker>` + (truncated ? `<NextMarker>${enc(last)}</NextMarker>` : '');
  sendXml(res, `<ListBucketResult xmlns="${XMLNS}">${head}${paging}${items}${common}</ListBucketResult>`);
}


export function listParts(store: ObjectStore, multipart: MultipartUploads, res: http.ServerResponse, bucket: string, key: string,
  q: URLSearchParams): void {
  store.bucket(bucket);
  const upload = multipart.get(bucket, key, q.get('uploadId'));
  const marker = Number(q.get('part-number-marker') ?? 0) || 0;
  const max = Math.min(1000, Math.max(0, Number(q.get('max-parts') ?? 1000) || 1000));
  const all = multipart.listParts(upload).filter((p) => p.number > marker);
  const parts = all.slice(0, max);
  const truncated = all.length > parts.length;
  const owner = `<ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName>`;
  const items = parts.map((p) => `<Part><PartNumber>${p.number}</PartNumber><LastModified>${p.lastModified}</LastModified>`
    + `<ETag>&quot;${p.etag}&quot;</ETag><Size>${p.size}</Size>`
    + (p.checksum && upload.checksumAlgorithm ? `<Checksum${upload.checksumAlgorithm}>${p.checksum}</Checksum${upload.checksumAlgorithm}>` : '')
    + '</Part>').join('');
  sendXml(res, `<ListPartsResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${upload.id}</UploadId>`
    + `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>`
    + `<PartNumberMarker>${marker}</PartNumberMarker>`
    + (parts.length ? `<NextPartNumberMarker>${parts[parts.length - 1].number}</NextPartNumberMarker>` : '')
    + `<MaxParts>${max}</MaxParts><IsTruncated>${truncated}</IsTruncated>`
    + (upload.checksumAlgorithm ? `<ChecksumAlgorithm>${upload.checksumAlgorithm}</ChecksumAlgorithm>` : '')
    + `${items}</ListPartsResult>`);
}

export function listUploads(store: ObjectStore, multipart: MultipartUploads, res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
  store.bucket(bucket);
  const prefix = q.get('prefix') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const idMarker = q.get('upload-id-marker') ?? '';
  const max = Math.min(1000, Math.max(0, Number(q.get('max-uploads') ?? 1000) || 1000));
  const all = multipart.list(bucket, prefix).filter((u) => {
    const c = compareKeys(u.key, keyMarker);
    return !keyMarker || c > 0 || (c === 0 && idMarker !== '' && u.id > idMarker);
  });
  const uploads = all.slice(0, max);
  const truncated = all.length > uploads.length;
  const owner = `<ID>${OWNER.id}</ID><DisplayName>${OWNER.name}</DisplayName>`;
  const items = uploads.map((u: Upload) => `<Upload><Key>${xml(u.key)}</Key><UploadId>${u.id}</UploadId>`
    + `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>`
    + `<Initiated>${u.initiated}</Initiated></Upload>`).join('');
  const last = uploads[uploads.length - 1];
  sendXml(res, `<ListMultipartUploadsResult xmlns="${XMLNS}"><Bucket>${xml(bucket)}</Bucket>`
    + `<KeyMarker>${xml(keyMarker)}</KeyMarker><UploadIdMarker>${xml(idMarker)}</UploadIdMarker>`
    + (truncated && last ? `<NextKeyMarker>${xml(last.key)}</NextKeyMarker><NextUploadIdMarker>${last.id}</NextUploadIdMarker>` : '')
    + `<Prefix>${xml(prefix)}</Prefix><MaxUploads>${max}</MaxUploads><IsTruncated>${truncated}</IsTruncated>${items}</ListMultipartUploadsResult>`);
}
