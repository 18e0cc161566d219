/** Reading S3 requests: bodies, path segments, content type and user metadata. */
import type * as http from 'http';

export function decodePath(p: string): string {
  return decodeURIComponent(p);
}

export function contentTypeOf(req: http.IncomingMessage): string {
  return String(req.headers['content-type'] ?? 'binary/octet-stream');
}

export function userMetadata(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('x-amz-meta-') && v !== undefined) out[k.slice('x-amz-meta-'.length)] = String(v);
  }
  return out;
}

export async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function drain(req: http.IncomingMessage): Promise<void> {
  for await (const _ of req) { /* discard */ }
}
