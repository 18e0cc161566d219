/* eslint-disable no-bitwise */
/**
 * S3's additional checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256), base64 as S3 sends them,
 * and the composite checksum of a multipart upload.
 */
import { createHash } from 'crypto';
import * as zlib from 'zlib';

export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number];

export interface Hasher {
  update(data: Buffer): void;
  /** The checksum, base64. */
  digest(): string;
}

/** The header carrying an algorithm's checksum: `x-amz-checksum-crc32`, ... */
export function checksumHeader(a: ChecksumAlgorithm): string {
  return `x-amz-checksum-${a.toLowerCase()}`;
}

/** The algorithm a name (`crc32`, `SHA256`, a header name) stands for, if any. */
export function checksumAlgorithm(name: string | undefined): ChecksumAlgorithm | undefined {
  const n = String(name ?? '').toUpperCase().replace(/^X-AMZ-CHECKSUM-/, '');
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(n) ? n as ChecksumAlgorithm : undefined;
}

function crc32Table(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
}

const CRC32 = crc32Table(0xedb88320);
const CRC32C = crc32Table(0x82f63b78);

function crc32Hasher(table: Uint32Array): Hasher {
  let crc = 0xffffffff;
  return {
    update(data: Buffer) {
      let c = crc;
      for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
      crc = c;
    },
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
      return out.toString('base64');
    },
  };
}

// CRC-64/NVME, reflected polynomial 0x9a6c9329ac4bc9b5, as two 32-bit halves.
const CRC64_HI = new Uint32Array(256);
const CRC64_LO = new Uint32Array(256);
(() => {
  const polyHi = 0x9a6c9329;
  const polyLo = 0xac4bc9b5;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) {
        hi = (hi ^ polyHi) >>> 0;
        lo = (lo ^ polyLo) >>> 0;
      }
    }
    CRC64_HI[i] = hi;
    CRC64_LO[i] = lo;
  }
})();

function crc64Hasher(): Hasher {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  return {
    update(data: Buffer) {
      let h = hi;
      let l = lo;
      for (let i = 0; i < data.length; i++) {
        const idx = (l ^ data[i]) & 0xff;
        l = (((l >>> 8) | ((h & 0xff) << 24)) ^ CRC64_LO[idx]) >>> 0;
        h = ((h >>> 8) ^ CRC64_HI[idx]) >>> 0;
      }
      hi = h;
      lo = l;
    },
    digest() {
      const out = Buffer.alloc(8);
      out.writeUInt32BE((hi ^ 0xffffffff) >>> 0, 0);
      out.writeUInt32BE((lo ^ 0xffffffff) >>> 0, 4);
      return out.toString('base64');
    },
  };
}

function hashHasher(name: string): Hasher {
  const h = createHash(name);
  return { update: (d) => h.update(d), digest: () => h.digest('base64') };
}

/** zlib's native CRC32 (Node 20.15 and later), far faster than the table in JavaScript. */
const nativeCrc32 = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;

function nativeCrc32Hasher(crc32: (data: Buffer, value?: number) => number): Hasher {
  let crc = 0;
  return {
    update(data: Buffer) {
      crc = crc32(data, crc);
    },
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc >>> 0);
      return out.toString('base64');
    },
  };
}

export function checksumHasher(a: ChecksumAlgorithm): Hasher {
  switch (a) {
    case 'CRC32': return nativeCrc32 ? nativeCrc32Hasher(nativeCrc32) : crc32Hasher(CRC32);
    case 'CRC32C': return crc32Hasher(CRC32C);
    case 'CRC64NVME': return crc64Hasher();
    case 'SHA1': return hashHasher('sha1');
    case 'SHA256': return hashHasher('sha256');
  }
}

/** The checksum of data, base64. */
export function checksumOf(a: ChecksumAlgorithm, data: Buffer): string {
  const h = checksumHasher(a);
  h.update(data);
  return h.digest();
}

/** A multipart upload's composite checksum: the checksum of the parts' checksums, `-<count>`. */
export function compositeChecksum(a: ChecksumAlgorithm, parts: string[]): string {
  return `${checksumOf(a, Buffer.concat(parts.map((p) => Buffer.from(p, 'base64'))))}-${parts.length}`;
}
