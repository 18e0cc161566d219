/**
 * The variant types of the public API. Their values are the contract's lists (`./contract`);
 * `private/validation.ts` fails to compile if the two ever differ.
 */

/**
 * How a variant's image fits its width and height.
 */
export enum ImageFit {
  /** Crop to cover both dimensions, keeping the aspect ratio. */
  COVER = 'cover',
  /** Fit inside both dimensions, letterboxed with the background colour. */
  CONTAIN = 'contain',
  /** Stretch to exactly the width and height, ignoring the aspect ratio (the original system). */
  FILL = 'fill',
  /** As large as possible while not larger than either dimension. */
  INSIDE = 'inside',
  /** As small as possible while not smaller than either dimension. */
  OUTSIDE = 'outside',
}

/**
 * The encoding of a variant's output.
 */
export enum OutputFormat {
  /** JPEG, `.jpg`. */
  JPEG = 'jpeg',
  /** PNG, `.png`. */
  PNG = 'png',
  /** WebP, `.webp`. */
  WEBP = 'webp',
  /** AVIF, `.avif`. */
  AVIF = 'avif',
  /** The input's own format (SVG input becomes PNG). */
  ORIGINAL = 'original',
}

/**
 * An image format the processor may accept as input.
 */
export enum InputFormat {
  /** JPEG. */
  JPEG = 'jpeg',
  /** PNG. */
  PNG = 'png',
  /** WebP. */
  WEBP = 'webp',
  /** GIF (first frame). */
  GIF = 'gif',
  /** TIFF (first page). */
  TIFF = 'tiff',
  /** AVIF. */
  AVIF = 'avif',
  /** SVG. Off by default: an SVG can reference other files and URLs. */
  SVG = 'svg',
}

/**
 * One output image made from every upload.
 *
 * Its key is `<outputPrefix><name>/<input key without inputPrefix and extension>.<extension>`.
 */
export interface ImageVariant {
  /**
   * The variant's name: the first path segment of its output keys. 1 to 64 letters, digits,
   * `.`, `_` or `-`, starting with a letter or digit.
   */
  readonly name: string;

  /**
   * Width of the output, in pixels (1 to 16383).
   *
   * @default - scaled from `height` to keep the aspect ratio; the input's width if neither is set
   */
  readonly width?: number;

  /**
   * Height of the output, in pixels (1 to 16383).
   *
   * @default - scaled from `width` to keep the aspect ratio; the input's height if neither is set
   */
  readonly height?: number;

  /**
   * How the image fits `width` and `height` when both are set.
   *
   * @default ImageFit.COVER
   */
  readonly fit?: ImageFit;

  /**
   * Convert to a one-channel grayscale image.
   *
   * @default false
   */
  readonly grayscale?: boolean;

  /**
   * The output encoding.
   *
   * @default OutputFormat.JPEG
   */
  readonly format?: OutputFormat;

  /**
   * Encoder quality, 1 to 100, for JPEG, WebP and AVIF.
   *
   * @default - 80 for JPEG and WebP, 50 for AVIF
   */
  readonly quality?: number;

  /**
   * Never make the output larger than the input.
   *
   * @default false
   */
  readonly withoutEnlargement?: boolean;

  /**
   * Background colour, `#rgb` or `#rrggbb`: fills `contain` letterboxes and replaces
   * transparency in JPEG output.
   *
   * @default '#ffffff'
   */
  readonly background?: string;
}
