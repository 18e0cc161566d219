import { createHash, type Hash } from 'crypto';
import { Transform, type TransformCallback } from 'stream';
import { S3Error } from './errors';

/** Checks the signatures of a signed aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
export interface ChunkSigner {
  /** Whether the chunks carry signatures (a signed streaming body) at all. */
  readonly signed: boolean;
  /** Checks a chunk's signature, given the SHA-256 (hex) of its data; throws when it is wrong. */
  chunk(signature: string, dataSha256: string): void;
  /** Checks the trailer's signature over its lines (`name:value\n` each); throws when it is wrong. */
  trailer(signature: string, lines: string): void;
}

const MAX_LINE = 4096;

function malformed(message: string): S3Error {
  return new S3Error(400, 'IncompleteBody', `Malformed aws-chunked body: ${message}`);
}

/**
 * Decodes the `aws-chunked` content encoding strictly: `<hex size>[;chunk-signature=<64 hex>]\r\n
 * <data>\r\n` chunks, a zero-size chunk, then trailer lines (checksums, the trailer signature) and
 * an empty line, and nothing after it. Chunk signatures are required on a signed body and checked
 * when a signer that can check them is given.
 */
export class AwsChunkedDecoder extends Transform {
  /** The trailer's fields (`x-amz-checksum-crc32`, ...), once the body is read. */
  readonly trailer: Record<string, string> = {};
  private buffer: Buffer = Buffer.alloc(0);
  private state: 'header' | 'data' | 'crlf' | 'trailer' | 'done' = 'header';
  private remaining = 0;
  private last = false;
  private signature = '';
  private hash?: Hash;
  private trailerLines = '';

  constructor(private readonly signer?: ChunkSigner) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      this.parse();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  _flush(cb: TransformCallback): void {
    if (this.state !== 'done') {
      cb(new S3Error(400, 'IncompleteBody', 'The aws-chunked body ended before its last chunk'));
      return;
    }
    cb();
  }

  private line(): string | undefined {
    const eol = this.buffer.indexOf('\r\n');
    if (eol < 0) {
      if (this.buffer.length > MAX_LINE) throw malformed('a line too long');
      return undefined;
    }
    const text = this.buffer.subarray(0, eol).toString('latin1');
    this.buffer = this.buffer.subarray(eol + 2);
    return text;
  }

  private parse(): void {
    for (;;) {
      switch (this.state) {
        case 'header': {
          const header = this.line();
          if (header === undefined) return;
          const m = /^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(header);
          if (!m) throw malformed(`bad chunk header "${header.slice(0, 100)}"`);
          if (this.signer?.signed && !m[2]) throw malformed('a chunk without its signature');
          if (!this.signer?.signed && m[2] === undefined && header.includes(';')) throw malformed('bad chunk extension');
          const size = parseInt(m[1], 16);
          if (!Number.isSafeInteger(size)) throw malformed('a chunk too large');
          this.signature = m[2] ?? '';
          this.hash = this.signer?.signed ? createHash('sha256') : undefined;
          this.remaining = size;
          this.last = size === 0;
          this.state = size === 0 ? 'crlf' : 'data';
          if (size === 0) {
            this.verifyChunk();
            this.state = 'trailer';
          }
          break;
        }
        case 'data': {
          if (this.buffer.length === 0) return;
          const take = Math.min(this.remaining, this.buffer.length);
          const data = this.buffer.subarray(0, take);
          this.hash?.update(data);
          this.push(data);
          this.buffer = this.buffer.subarray(take);
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'crlf';
          break;
        }
        case 'crlf': {
          if (this.buffer.length < 2) return;
          if (this.buffer[0] !== 0x0d || this.buffer[1] !== 0x0a) throw malformed('a chunk longer than its size');
          this.buffer = this.buffer.subarray(2);
          this.verifyChunk();
          this.state = this.last ? 'trailer' : 'header';
          break;
        }
        case 'trailer': {
          const line = this.line();
          if (line === undefined) return;
          if (line === '') {
            this.state = 'done';
            break;
          }
          const colon = line.indexOf(':');
          if (colon <= 0) throw malformed(`bad trailer line "${line.slice(0, 100)}"`);
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          if (name === 'x-amz-trailer-signature') {
            if (this.signer?.signed) this.signer.trailer(value, this.trailerLines);
          } else {
            this.trailer[name] = value;
            this.trailerLines += `${name}:${value}\n`;
          }
          break;
        }
        case 'done':
          if (this.buffer.length > 0) throw malformed('data after the final chunk');
          return;
      }
    }
  }

  private verifyChunk(): void {
    if (!this.signer?.signed || !this.hash) return;
    this.signer.chunk(this.signature, this.hash.digest('hex'));
    this.hash = undefined;
  }
}
