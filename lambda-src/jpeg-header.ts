/**
 * The frame header of a plain JPEG, read from its bytes without a sharp call (a sharp call costs
 * about a millisecond whatever the image; most uploads are JPEGs).
 */

export interface JpegFrame {
  readonly width: number;
  readonly height: number;
  readonly components: number;
}

/**
 * The size of a baseline or extended sequential (Huffman) JPEG with 8-bit samples and one or three
 * components, with no Adobe marker. Undefined for everything else, whatever it is (progressive,
 * arithmetic-coded, lossless, CMYK, 12-bit, a damaged or missing frame header, not a JPEG at all):
 * the caller then asks libvips, which knows all of those.
 */
export function plainJpegFrame(bytes: Uint8Array): JpegFrame | undefined {
  for (const { marker, at, length } of segments(bytes)) {
    if (marker === 0xc0 || marker === 0xc1) {
      if (length < 8) return undefined;
      const precision = bytes[at + 2];
      const height = u16(bytes, at + 3);
      const width = u16(bytes, at + 5);
      const components = bytes[at + 7];
      if (precision !== 8 || width === 0 || height === 0) return undefined;
      if (components !== 1 && components !== 3) return undefined;
      if (length !== 8 + 3 * components) return undefined;
      return { width, height, components };
    }
    // Other frame types (progressive, lossless, arithmetic) and Adobe's colour-transform marker:
    // not a plain JPEG.
    if ((marker >= 0xc2 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xcc) || marker === 0xee) return undefined;
  }
  return undefined;
}

/**
 * The EXIF orientation (1 to 8) of a JPEG, from the first APP1 segment that holds EXIF, read from
 * its bytes as libvips reads it (IFD0's Orientation tag). Undefined when there is none or it cannot
 * be read (the segments before the scan do not walk, or the EXIF is malformed).
 */
export function jpegExifOrientation(bytes: Uint8Array): number | undefined {
  for (const { marker, at, length, end } of segments(bytes)) {
    if (marker === 0xe1 && length >= 2 + 6 + 8 && String.fromCharCode(...bytes.subarray(at + 2, at + 8)) === 'Exif\0\0') {
      return tiffOrientation(bytes.subarray(at + 8, end));
    }
  }
  return undefined;
}

/**
 * The marker segments of a JPEG before its scan: each one's marker, the offset of its length
 * field, its length and its end. The walk stops at the scan, the end of the image, a standalone
 * marker, or anything that is not a well-formed segment.
 */
function* segments(bytes: Uint8Array): Generator<{ marker: number; at: number; length: number; end: number }> {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return;
    // Any number of 0xFF fill bytes may precede a marker.
    while (i < bytes.length && bytes[i] === 0xff) i++;
    if (i + 2 >= bytes.length) return;
    const marker = bytes[i];
    if (marker === 0xda || marker === 0xd9 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) return;
    const length = u16(bytes, i + 1);
    const end = i + 1 + length;
    if (length < 2 || end > bytes.length) return;
    yield { marker, at: i + 1, length, end };
    i = end;
  }
}

/** A big-endian 16-bit number. */
function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] * 256 + bytes[at + 1];
}

/** IFD0's Orientation (tag 0x0112, one SHORT) of a TIFF structure; undefined if absent or malformed. */
function tiffOrientation(t: Uint8Array): number | undefined {
  const little = t[0] === 0x49 && t[1] === 0x49;
  if (!little && !(t[0] === 0x4d && t[1] === 0x4d)) return undefined;
  const r16 = (at: number) => (little ? t[at] + t[at + 1] * 256 : t[at] * 256 + t[at + 1]);
  const r32 = (at: number) => (little ? r16(at) + r16(at + 2) * 65536 : r16(at) * 65536 + r16(at + 2));
  if (t.length < 8 || r16(2) !== 42) return undefined;
  const ifd = r32(4);
  if (ifd + 2 > t.length) return undefined;
  const count = r16(ifd);
  for (let n = 0; n < count; n++) {
    const entry = ifd + 2 + 12 * n;
    if (entry + 12 > t.length) return undefined;
    if (r16(entry) === 0x0112) {
      const value = r16(entry + 2) === 3 && r32(entry + 4) === 1 ? r16(entry + 8) : undefined;
      return value !== undefined && value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}
