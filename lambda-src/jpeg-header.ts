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
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    // Any number of 0xFF fill bytes may precede a marker.
    while (i < bytes.length && bytes[i] === 0xff) i++;
    if (i + 2 >= bytes.length) return undefined;
    const marker = bytes[i];
    const length = u16(bytes, i + 1);
    const end = i + 1 + length;
    if (length < 2 || end > bytes.length) return undefined;
    if (marker === 0xc0 || marker === 0xc1) {
      if (length < 8) return undefined;
      const precision = bytes[i + 3];
      const height = u16(bytes, i + 4);
      const width = u16(bytes, i + 6);
      const components = bytes[i + 8];
      if (precision !== 8 || width === 0 || height === 0) return undefined;
      if (components !== 1 && components !== 3) return undefined;
      if (length !== 8 + 3 * components) return undefined;
      return { width, height, components };
    }
    // Other frame types (progressive, lossless, arithmetic), the scan or the end before a frame
    // header, standalone markers, and Adobe's colour-transform marker: not a plain JPEG.
    if ((marker >= 0xc2 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xcc)
      || marker === 0xda || marker === 0xd9 || marker === 0xd8
      || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xee) {
      return undefined;
    }
    i = end;
  }
  return undefined;
}

/** A big-endian 16-bit number. */
function u16(bytes: Uint8Array, at: number): number {
  return bytes[at] * 256 + bytes[at + 1];
}
