/** GetObject and HeadObject: conditions, ranges, parts, response header overrides and checksums. */
import * as fs from 'fs';
import type * as http from 'http';
import { checksumHeader } from './checksums';
import { preconditionFailure } from './conditions';
import { S3Error } from './errors';
import type { ObjectStore } from './object-store';
import { headerBytes } from './request';
import { send } from './xml';

export function getObject(store: ObjectStore, req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, q: URLSearchParams,
  head: boolean): void {
  store.bucket(bucket);
  const partText = q.get('partNumber');
  const part = partText === null ? undefined : Number(partText);
  if (part !== undefined && (!Number.isInteger(part) || part < 1 || part > 10000)) {
    throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 'partNumber');
  }
  // The metadata and the bytes of one version, in one step: a write meanwhile changes neither.
  const opened = store.openObject(bucket, key);
  if (!opened) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', key);
  let streaming = false;
  try {
    const { meta } = opened;
    const quoted = `"${meta.etag}"`;
    const h = (n: string) => req.headers[n] as string | undefined;
    const failed = preconditionFailure(meta, h('if-match'), undefined, undefined, h('if-unmodified-since'));
    if (failed) throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', failed);
    if (preconditionFailure(meta, undefined, h('if-none-match'), h('if-modified-since'), undefined)) {
      return send(res, 304, '', { 'ETag': quoted, 'Last-Modified': new Date(meta.lastModified).toUTCString() });
    }
    const headers: Record<string, string> = {
      'ETag': quoted,
      'Last-Modified': new Date(meta.lastModified).toUTCString(),
      'Content-Type': meta.contentType,
      'Accept-Ranges': 'bytes',
    };
    for (const [k, v] of Object.entries(meta.headers ?? {})) headers[k] = headerBytes(v);
    for (const [k, v] of Object.entries(meta.metadata)) headers[`x-amz-meta-${k}`] = headerBytes(v);
    const overrides: Record<string, string> = {
      'response-content-type': 'Content-Type',
      'response-content-language': 'Content-Language',
      'response-expires': 'Expires',
      'response-cache-control': 'Cache-Control',
      'response-content-disposition': 'Content-Disposition',
      'response-content-encoding': 'Content-Encoding',
    };
    for (const [param, header] of Object.entries(overrides)) {
      const v = q.get(param);
      if (v === null) continue;
      delete headers[header.toLowerCase()];
      headers[header] = headerBytes(v);
    }
    if (meta.checksum && String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED' && part === undefined) {
      headers[checksumHeader(meta.checksum.algorithm)] = meta.checksum.value;
      headers['x-amz-checksum-type'] = meta.checksum.type;
    }
    let start = 0;
    let end = meta.size - 1;
    let status = 200;
    if (part !== undefined) {
      const sizes = meta.parts ?? [meta.size];
      if (part > sizes.length) throw new S3Error(400, 'InvalidPart', 'The requested partnumber is not satisfiable', key);
      start = sizes.slice(0, part - 1).reduce((a, b) => a + b, 0);
      end = start + sizes[part - 1] - 1;
      if (meta.parts) {
        headers['x-amz-mp-parts-count'] = String(meta.parts.length);
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
      }
    } else if (req.headers.range !== undefined) {
      const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range).trim());
      // A range S3 cannot parse is ignored (the whole object answers); one past the end is refused.
      if (range && (range[1] !== '' || range[2] !== '')) {
        if (range[1] === '') {
          start = Math.max(0, meta.size - Number(range[2]));
        } else {
          start = Number(range[1]);
          end = range[2] === '' ? end : Math.min(end, Number(range[2]));
        }
        if (range[1] !== '' && range[2] !== '' && Number(range[2]) < Number(range[1])) {
          start = 0;
          end = meta.size - 1; // an inverted range is ignored, as S3 does
        } else if (start >= meta.size || (range[1] === '' && Number(range[2]) === 0)) {
          throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', key);
        } else {
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
        }
      }
    }
    const length = Math.max(0, end - start + 1);
    headers['Content-Length'] = String(length);
    res.writeHead(status, headers);
    if (head || length === 0) {
      res.end();
      return;
    }
    const stream = fs.createReadStream('', { fd: opened.fd, start, end, autoClose: true });
    streaming = true;
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  } finally {
    if (!streaming) fs.closeSync(opened.fd);
  }
}
