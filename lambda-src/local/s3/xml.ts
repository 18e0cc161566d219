/**
 * S3's XML: escaping, the namespace and owner of its documents, and the responses the endpoint
 * sends (empty, XML, and S3's error document).
 */
import type * as http from 'http';
import { S3Error } from './errors';

export const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
export const OWNER = { id: '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a', name: 'local' };

export function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function unxml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, '\'')
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}

export function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

export function sendXml(res: http.ServerResponse, body: string, status = 200): void {
  const doc = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(doc)) });
  res.end(doc);
}

/** Answers with S3's error document (no body for HEAD); a response already begun is cut. */
export function sendError(res: http.ServerResponse, e: Error, method?: string): void {
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
