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
  /** GIF, `.gif` (256 colours; keeps an animation with `animated`). */
  GIF = 'gif',
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
 * Where a `cover` crop keeps the image (which part survives the crop), or where `contain` places
 * it in its letterbox: a gravity, or one of sharp's crop strategies (`cover` only).
 */
export enum CropPosition {
  /** The middle (sharp's default). */
  CENTRE = 'centre',
  /** The top edge. */
  NORTH = 'north',
  /** The top right corner. */
  NORTHEAST = 'northeast',
  /** The right edge. */
  EAST = 'east',
  /** The bottom right corner. */
  SOUTHEAST = 'southeast',
  /** The bottom edge. */
  SOUTH = 'south',
  /** The bottom left corner. */
  SOUTHWEST = 'southwest',
  /** The left edge. */
  WEST = 'west',
  /** The top left corner. */
  NORTHWEST = 'northwest',
  /**
   * `cover` only, one frame only: keeps the region with the highest luminance frequency, colour
   * saturation and presence of skin tones (sharp's attention strategy).
   */
  ATTENTION = 'attention',
  /** `cover` only, one frame only: keeps the region with the highest Shannon entropy (sharp's entropy strategy). */
  ENTROPY = 'entropy',
}

/**
 * What a variant does when its encoded output is larger in bytes than the input.
 */
export enum LargerOutput {
  /** Write the output all the same. */
  WRITE = 'write',
  /**
   * Write the input's bytes, unchanged, as the variant, with the input's format and extension.
   * Unchanged means with its metadata (EXIF, GPS) too, whatever `keepMetadata` says. An SVG input
   * is never written as an output: the variant is skipped instead.
   */
  KEEP_SOURCE = 'keep-source',
  /** Write nothing for the variant (and remove what an older upload of the key wrote there). */
  SKIP = 'skip',
}

/**
 * One output image made from every upload.
 *
 * Its key is `<outputPrefix><name>/<input key without inputPrefix and extension>.<extension>`,
 * unless `key` gives another template.
 */
export interface ImageVariant {
  /**
   * The variant's name: the first path segment of its output keys (unless `key` says otherwise).
   * 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
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

  /**
   * The template of the variant's output keys, under `outputPrefix`. Placeholders, for the input
   * key `photos/2024/cat.JPG` under `inputPrefix`: `{variant}` the variant's name; `{path}` the key
   * less `inputPrefix` and its extension (`photos/2024/cat`); `{dir}` its folder (`photos/2024`;
   * at the top level `{dir}/` writes nothing); `{name}` the file name less its extension (`cat`);
   * `{inputExt}` the input's extension as written (`JPG`, empty if none); `{ext}` the output
   * format's extension (`jpg`, `webp`, ...); `{width}` and `{height}` this variant's `width` and
   * `height` (which must then be set). The template must hold `{path}`, or `{dir}` and `{name}`,
   * so that inputs never share an output; it may not start with `/` or `_`; and two variants of
   * one pipeline (or rule) may not give one input the same key. Outputs stay under
   * `outputPrefix`, so never under the input prefix of a shared bucket.
   *
   * @example '{dir}/{name}_{width}x{height}.{ext}'
   * @default '{variant}/{path}.{ext}'
   */
  readonly key?: string;

  /**
   * Which part of the image a `cover` crop keeps, or where `contain` places it: a gravity, or
   * (`cover` only) `CropPosition.ATTENTION` or `CropPosition.ENTROPY`. Applies only with fit
   * cover or contain; the crop strategies cannot be combined with `animated`.
   *
   * @default CropPosition.CENTRE
   */
  readonly position?: CropPosition;

  /**
   * Keep every frame of an animated GIF or WebP input. Needs a format that keeps frames
   * (`OutputFormat.GIF`, `OutputFormat.WEBP`, or `OutputFormat.ORIGINAL`, which does for GIF and
   * WebP inputs). The input's pixels, every frame counted, are held to `maxInputPixels`
   * (`too-many-pixels`), and an animation may have at most 500 frames (`too-many-frames`).
   *
   * @default false
   */
  readonly animated?: boolean;

  /**
   * The `Cache-Control` header of the variant's outputs (printable US-ASCII, at most 1024 characters).
   *
   * @example 'public, max-age=31536000, immutable'
   * @default - none
   */
  readonly cacheControl?: string;

  /**
   * The `Content-Disposition` header of the variant's outputs (printable US-ASCII, at most 1024 characters).
   *
   * @example 'inline'
   * @default - none
   */
  readonly contentDisposition?: string;

  /**
   * User metadata on the variant's outputs: keys of lower-case letters, digits and `-` (not
   * starting with `source-`, which the pipeline keeps to record the upload an output comes from),
   * printable US-ASCII values, at most 1848 bytes in all (S3's 2 KB less what the pipeline's own
   * metadata takes).
   *
   * @default - none
   */
  readonly metadata?: { [key: string]: string };

  /**
   * Copy the input object's user metadata onto the variant's outputs. `metadata` wins over a
   * copied key of the same name, and the pipeline's `source-*` metadata over both. An upload
   * whose metadata, with these, would pass S3's 2 KB of user metadata is rejected
   * (`metadata-too-large`).
   *
   * @default false
   */
  readonly copyUserMetadata?: boolean;

  /**
   * The never-larger guard: what to do when the variant's output would be larger in bytes than
   * the input. What it did is in the ImageProcessed event's `outputs[].note`.
   *
   * @default LargerOutput.WRITE
   */
  readonly whenLarger?: LargerOutput;
}

/**
 * The variants of the uploads under one key prefix.
 */
export interface ImageRule {
  /**
   * The key prefix, under the pipeline's `inputPrefix` (`avatars/` is `<inputPrefix>avatars/`).
   * Prefixes of one pipeline's rules may not overlap (start with one another); an empty prefix
   * overlaps every other.
   */
  readonly prefix: string;

  /** The variants made from each upload under `prefix` (1 to 10, names unique within the rule). */
  readonly variants: ImageVariant[];
}
