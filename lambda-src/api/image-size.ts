/**
 * The dimensions of an encoded image from the first bytes of its file, without decoding it and
 * without sharp (the API's function has no layer): JPEG, PNG, WebP, AVIF, GIF and TIFF, every
 * format the processor writes. A ranged GET of the first 64 KiB holds the header of each.
 */

/** How many leading bytes are read: enough for any header the processor writes (JPEG's EXIF and ICC segments come first). */
export const HEADER_BYTES = 64 * 1024;

export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/** The dimensions, or undefined when the bytes are not a header this reader knows. */
export function imageSize(bytes: Uint8Array): ImageSize | undefined {
  try {
    return readSize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    // A header cut short (a read past the bytes there are): not one this reader knows.
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}

function readSize(b: Buffer): ImageSize | undefined {
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegSize(b);
  if (b.length >= 24 && ascii(b, 1, 4) === 'PNG' && ascii(b, 12, 16) === 'IHDR') return sized(u32be(b, 16), u32be(b, 20));
  if (b.length >= 10 && ascii(b, 0, 3) === 'GIF') return sized(u16le(b, 6), u16le(b, 8));
  if (b.length >= 16 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return webpSize(b);
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp') return ispeSize(b);
  if (tiffIfdOffset(b) !== undefined) return tiffSize(b);
  return undefined;
}

function sized(width: number, height: number): ImageSize | undefined {
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** The first start-of-frame segment (any of SOF0 to SOF15 but DHT, JPG and DAC). */
function jpegSize(b: Buffer): ImageSize | undefined {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const length = u16be(b, i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return i + 9 <= b.length ? sized(u16be(b, i + 7), u16be(b, i + 5)) : undefined;
    }
    if (marker === 0xda || marker === 0xd9 || length < 2) return undefined;
    i += 2 + length;
  }
  return undefined;
}

function webpSize(b: Buffer): ImageSize | undefined {
  const chunk = ascii(b, 12, 16);
  const d = 20;
  // 14-bit fields: VP8's width and height (2 scale bits above each), VP8L's width-1 and height-1.
  const bits14 = 2 ** 14;
  if (chunk === 'VP8 ' && b.length >= d + 10) return sized(u16le(b, d + 6) % bits14, u16le(b, d + 8) % bits14);
  if (chunk === 'VP8L' && b.length >= d + 5 && b[d] === 0x2f) {
    const bits = u32le(b, d + 1);
    return sized((bits % bits14) + 1, (Math.floor(bits / bits14) % bits14) + 1);
  }
  if (chunk === 'VP8X' && b.length >= d + 10) return sized(u24le(b, d + 4) + 1, u24le(b, d + 7) + 1);
  return undefined;
}

/** AVIF (and HEIF): the first `ispe` property, found by walking meta > iprp > ipco. */
function ispeSize(b: Buffer): ImageSize | undefined {
  const find = (from: number, to: number, type: string, fullBox: boolean): { start: number; end: number } | undefined => {
    for (let i = from + (fullBox ? 4 : 0); i + 8 <= to;) {
      let size = u32be(b, i);
      const header = size === 1 ? 16 : 8;
      if (size === 1) size = Number(u32be(b, i + 8)) * 2 ** 32 + u32be(b, i + 12);
      if (size === 0) size = to - i;
      if (size < header) return undefined;
      if (ascii(b, i + 4, i + 8) === type) return { start: i + header, end: Math.min(to, i + size) };
      i += size;
    }
    return undefined;
  };
  const meta = find(0, b.length, 'meta', false);
  const iprp = meta && find(meta.start, meta.end, 'iprp', true);
  const ipco = iprp && find(iprp.start, iprp.end, 'ipco', false);
  const ispe = ipco && find(ipco.start, ipco.end, 'ispe', false);
  // ispe is a full box: version and flags, then width and height.
  return ispe && ispe.start + 12 <= ispe.end ? sized(u32be(b, ispe.start + 4), u32be(b, ispe.start + 8)) : undefined;
}

/** TIFF: ImageWidth (256) and ImageLength (257) of the first IFD, when the IFD is in `b`. */
function tiffSize(b: Buffer): ImageSize | undefined {
  const ifd = tiffIfdOffset(b);
  return ifd === undefined || ifd + 2 > b.length ? undefined : tiffIfdSize(b[0] === 0x49, b.subarray(ifd));
}

/** Where a TIFF's first IFD starts; undefined for anything but a TIFF. */
export function tiffIfdOffset(bytes: Uint8Array): number | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 8) return undefined;
  const magic = b.toString('latin1', 0, 4);
  if (magic === 'II*\0') return b.readUInt32LE(4);
  if (magic === 'MM\0*') return b.readUInt32BE(4);
  return undefined;
}

/**
 * The size recorded in a TIFF IFD read on its own (libtiff may write it after the image data, past
 * the first bytes): `littleEndian` from the file's header.
 */
export function tiffIfdSize(littleEndian: boolean, ifdBytes: Uint8Array): ImageSize | undefined {
  const b = Buffer.from(ifdBytes.buffer, ifdBytes.byteOffset, ifdBytes.byteLength);
  const u16 = (o: number) => (littleEndian ? u16le(b, o) : u16be(b, o));
  const u32 = (o: number) => (littleEndian ? u32le(b, o) : u32be(b, o));
  if (b.length < 2) return undefined;
  let width = 0;
  let height = 0;
  const count = u16(0);
  for (let n = 0; n < count; n++) {
    const e = 2 + n * 12;
    if (e + 12 > b.length) break;
    const tag = u16(e);
    const value = u16(e + 2) === 3 ? u16(e + 8) : u32(e + 8);
    if (tag === 256) width = value;
    if (tag === 257) height = value;
  }
  return sized(width, height);
}

function ascii(b: Buffer, from: number, to: number): string {
  return b.toString('latin1', from, Math.min(to, b.length));
}
function u16be(b: Buffer, o: number): number {
  return b.readUInt16BE(o);
}
function u16le(b: Buffer, o: number): number {
  return b.readUInt16LE(o);
}
function u24le(b: Buffer, o: number): number {
  return b.readUIntLE(o, 3);
}
function u32be(b: Buffer, o: number): number {
  return b.readUInt32BE(o);
}
function u32le(b: Buffer, o: number): number {
  return b.readUInt32LE(o);
}
