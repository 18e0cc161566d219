import { Transform, type TransformCallback } from 'stream';
import { S3Error } from './errors';

/**
 * Decodes the `aws-chunked` content encoding: `<hex size>[;chunk-signature=...]\r\n<data>\r\n`
 * chunks, a zero-size chunk, then optional trailer lines (checksums) and an empty line.
 */
export class AwsChunkedDecoder extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  private remaining = -1;
  private done = false;

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
    if (!this.done && !(this.remaining === -1 && this.buffer.length === 0)) {
      cb(new S3Error(400, 'IncompleteBody', 'The aws-chunked body ended before its last chunk'));
      return;
    }
    cb();
  }

  private parse(): void {
    while (!this.done) {
      if (this.remaining < 0) {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) {
          if (this.buffer.length > 4096) throw new S3Error(400, 'InvalidRequest', 'aws-chunked header line too long');
          return;
        }
        const header = this.buffer.subarray(0, eol).toString('latin1');
        const size = parseInt(header.split(';')[0], 16);
        if (!Number.isFinite(size) || size < 0) throw new S3Error(400, 'InvalidRequest', `bad aws-chunked header "${header}"`);
        this.buffer = this.buffer.subarray(eol + 2);
        if (size === 0) {
          this.done = true; // trailers (checksums) follow; they are not needed to store the object
          return;
        }
        this.remaining = size;
      }
      if (this.remaining > 0) {
        if (this.buffer.length === 0) return;
        const take = Math.min(this.remaining, this.buffer.length);
        this.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.remaining -= take;
      }
      if (this.remaining === 0) {
        if (this.buffer.length < 2) return;
        this.buffer = this.buffer.subarray(2); // the CRLF after the data
        this.remaining = -1;
      }
    }
  }
}
