/**
 * The one contract between the construct (synth time) and the handler (run time): the document
 * in the processor's `PIPELINE_CONFIG` environment variable, every default and limit of it, and
 * the names both halves use (event source and detail types, metric namespace and names, where
 * failure records go).
 *
 * The construct builds a `PipelineConfig` and checks its props with the rules below; the handler
 * (and the local mode) parse and check the same document with the same rules. Changing a default,
 * a limit or a name is one edit here.
 *
 * Internal: not exported from the package's entry point, so it is no part of the public API.
 * Pure TypeScript with no import at all, so that jsii compiles it with the construct and esbuild
 * bundles it into the handler.
 *
 * @internal
 */

// ---------------------------------------------------------------------------------------------
// Shared names

/** The environment variable that carries the document to the handler. */
export const CONFIG_ENV_VAR = 'PIPELINE_CONFIG';

/** The document's version. */
export const CONFIG_VERSION = 1;

/** The `source` of the pipeline's EventBridge events. */
export const EVENT_SOURCE = 'image-preprocessing-pipeline';

/** The `detail-type`s of the pipeline's EventBridge events. */
export const DETAIL_TYPES = {
  processed: 'ImageProcessed',
  rejected: 'ImageRejected',
} as const;
export type DetailType = typeof DETAIL_TYPES[keyof typeof DETAIL_TYPES];

/** The CloudWatch namespace of the metrics the handler logs (embedded metric format). */
export const METRICS_NAMESPACE = 'ImagePreprocessingPipeline';

/** The metrics the handler logs, and their dimensions. */
export const METRIC_NAMES = {
  processed: 'ImagesProcessed',
  rejected: 'ImagesRejected',
  /** An output key that already held another input key's output (see SOURCE_METADATA). */
  collisions: 'OutputKeyCollisions',
} as const;
export const METRIC_DIMENSIONS = {
  /** The function's name: one pipeline. */
  pipeline: 'Pipeline',
  /** The reject reason, on `ImagesRejected`. */
  reason: 'Reason',
} as const;

/** The folder, under the output prefix, of the failure records. */
export const FAILURE_FOLDER = '_failed/';

/**
 * The folder, under the output prefix, of the skip records: an upload whose every output the
 * never-larger guard skipped writes one (with its sequencer), so that an older upload's event
 * arriving after it cannot bring older outputs back.
 */
export const SKIPPED_FOLDER = '_skipped/';

/** The folder, under the output prefix, of the manifests: one JSON document per processed upload. */
export const MANIFEST_FOLDER = '_manifests/';

/**
 * The folder, under the output prefix, of the tombstones: a small record that an input was
 * deleted, carrying the delete's sequencer, so that an older upload's event arriving after the
 * delete cannot bring its outputs back.
 */
export const TOMBSTONE_FOLDER = '_deleted/';

/** Where an S3 Batch Operations backfill keeps its CSV manifests and completion reports, under the output prefix. */
export const BATCH_FOLDERS = { manifests: '_batch/manifests/', reports: '_batch/reports/' } as const;

/**
 * The user metadata of every object the handler writes for an upload (outputs and failure
 * records): which upload it comes from, so that a newer upload's results are never replaced by an
 * older one's and two input keys never silently share an output key.
 */
export const SOURCE_METADATA = {
  /** The input key, URL-encoded; left out when that would not fit S3's 2 KB of user metadata. */
  key: 'source-key',
  /** SHA-256 of the input key's UTF-8 bytes, hex: always there, whatever the key's length. */
  keyHash: 'source-key-sha256',
  /** The input object's eTag. */
  eTag: 'source-etag',
  /** The S3 event's sequencer: orders the uploads of one key. */
  sequencer: 'source-sequencer',
} as const;

/** The longest URL-encoded input key kept in `source-key` (the rest of the metadata fits beside it). */
export const MAX_SOURCE_KEY_METADATA = 1024;

/** The file extension of each encoded output format. */
export const OUTPUT_EXTENSIONS = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif', tiff: 'tif' } as const;

// ---------------------------------------------------------------------------------------------
// Value lists

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export type Fit = typeof FITS[number];

export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'gif', 'original'] as const;
export type OutputFormat = typeof OUTPUT_FORMATS[number];

export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'svg'] as const;
export type InputFormat = typeof INPUT_FORMATS[number];

export const TRIGGERS = ['s3-notification', 'queue'] as const;
export type Trigger = typeof TRIGGERS[number];

/** Where a `cover` crop (or a `contain` letterbox) keeps the image: gravities, and sharp's two crop strategies. */
export const POSITIONS = ['centre', 'north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest', 'attention', 'entropy'] as const;
export type Position = typeof POSITIONS[number];
/** The positions that are crop strategies: `cover` only, and one frame only. */
export const CROP_STRATEGIES: readonly Position[] = ['attention', 'entropy'];

/** What the never-larger guard does with an output larger in bytes than its input. */
export const LARGER_OUTPUT_ACTIONS = ['write', 'keep-source', 'skip'] as const;
export type LargerOutputAction = typeof LARGER_OUTPUT_ACTIONS[number];

/** The output formats that keep an animation's frames (`original` does for GIF and WebP inputs). */
export const ANIMATED_FORMATS: readonly OutputFormat[] = ['gif', 'webp', 'original'];

// ---------------------------------------------------------------------------------------------
// The document

/** One output image made from each upload, every field filled in. */
export interface VariantConfig {
  readonly name: string;
  readonly width?: number;
  readonly height?: number;
  readonly fit: Fit;
  readonly grayscale: boolean;
  readonly format: OutputFormat;
  readonly quality?: number;
  readonly withoutEnlargement: boolean;
  readonly background: string;
  /** The output key template (see KEY_PLACEHOLDERS); unset, DEFAULT_KEY_TEMPLATE. */
  readonly key?: string;
  /** Where `cover` crops and `contain` places the image; unset, the centre. */
  readonly position?: Position;
  /** Keep an animated GIF's or WebP's frames; unset, false (the first frame only). */
  readonly animated?: boolean;
  /** The outputs' Cache-Control header; unset, none. */
  readonly cacheControl?: string;
  /** The outputs' Content-Disposition header; unset, none. */
  readonly contentDisposition?: string;
  /** User metadata on the outputs (beneath the handler's own `source-*`); unset, none. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Copy the input's user metadata onto the outputs (beneath `metadata` and `source-*`); unset, false. */
  readonly copyUserMetadata?: boolean;
  /** What to do with an output larger in bytes than its input; unset, 'write'. */
  readonly whenLarger?: LargerOutputAction;
}

/** Variants for the keys under one prefix (relative to the input prefix). */
export interface RuleConfig {
  readonly prefix: string;
  readonly variants: readonly VariantConfig[];
}

/** A variant as a user gives it: everything but the name may be left out. */
export type VariantInput = Pick<VariantConfig, 'name'> & Partial<Omit<VariantConfig, 'name'>>;

/** Where ImageProcessed / ImageRejected events go. */
export interface EventsConfig {
  /** The event bus name or ARN. */
  readonly eventBusName: string;
  /** The events' `source`. */
  readonly source: string;
}

/** The document in `PIPELINE_CONFIG`. */
export interface PipelineConfig {
  readonly version: typeof CONFIG_VERSION;
  readonly inputBucket?: string;
  readonly outputBucket: string;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  /** The variants of every upload; empty when `rules` are given. */
  readonly variants: readonly VariantConfig[];
  /**
   * Variants by key prefix (under the input prefix): an upload is made into the variants of the
   * rule whose prefix its key (less the input prefix) starts with, and skipped under no rule.
   */
  readonly rules?: readonly RuleConfig[];
  readonly acceptedFormats: readonly InputFormat[];
  readonly maxInputPixels: number;
  readonly maxInputBytes: number;
  readonly keepMetadata: boolean;
  /** Records processed at once by one handler instance. */
  readonly concurrency: number;
  /** Where ImageProcessed / ImageRejected events go; none are sent if unset. */
  readonly events?: EventsConfig;
  /** Write a manifest beside the outputs of each processed upload, and put it in its ImageProcessed event. */
  readonly manifest?: boolean;
  /** A deleted input's outputs, manifest and failure record are deleted (ObjectRemoved events). */
  readonly processDeletes?: boolean;
  /** Amazon Rekognition labels of each input, in the manifest and the ImageProcessed event; none if unset. */
  readonly labels?: LabelsConfig;
}

/** Which labels Amazon Rekognition DetectLabels returns. */
export interface LabelsConfig {
  /** Labels below this confidence (percent) are left out. */
  readonly minConfidence: number;
  /** At most this many labels, the most confident first. */
  readonly maxLabels: number;
}

// ---------------------------------------------------------------------------------------------
// Defaults: every one, the construct's and the handler's

/** What a variant field is when it is not given. */
export const VARIANT_DEFAULTS = {
  fit: 'cover',
  grayscale: false,
  format: 'jpeg',
  withoutEnlargement: false,
  background: '#ffffff',
} as const satisfies Partial<VariantConfig>;

/** Encoder quality when a variant sets none, by the format encoded. */
export const DEFAULT_QUALITY = { jpeg: 80, webp: 80, avif: 50, tiff: 80 } as const;

/** The original system's output: one grayscale 256x256 JPEG, stretched to fill. */
export const DEFAULT_VARIANT: VariantConfig = completeVariant({
  name: 'grayscale-256',
  width: 256,
  height: 256,
  fit: 'fill',
  grayscale: true,
  format: 'jpeg',
  quality: 80,
});

/** Every other default, of the document and of the function that reads it. */
/**
 * What the handler's process uses before its first image, MiB: the runtime, the bundle, sharp and
 * libvips loaded, the clients created, one small image processed. Measured (bench/mem-limits.ts):
 * 91 MiB in a 128 MB Lambda function on Node.js 24 with its runtime client; 73 MiB for the same
 * process on Node.js 20 without one (at 128, 256 and 512 MB alike). The larger, plus 9 MiB of margin
 * for garbage not yet collected and the log and event buffers.
 */
export const HANDLER_BASELINE_MB = 100;

/**
 * How many times over the handler holds an input's bytes at its peak: the download's buffer, the
 * garbage it leaves until it is collected, and what the decoder keeps while it reads. Measured
 * (bench/mem-limits.ts): 2.6 times for an object refused after its download, 3 for a baseline
 * JPEG, 3.9 for a PNG.
 */
export const INPUT_BYTES_HELD = 4;

/**
 * The memory, in bytes, one record may use in a function of `memoryMb` megabytes that processes
 * `concurrency` records at once: what the baseline leaves (never less than 16 MiB), shared evenly.
 */
export function recordMemoryBudget(memoryMb: number, concurrency = 1): number {
  return Math.floor(Math.max(16, memoryMb - HANDLER_BASELINE_MB) * 1024 * 1024 / concurrency);
}

/**
 * The largest object worth downloading: `maxInputBytes`, and never more than an
 * INPUT_BYTES_HELD-th of the record's memory budget (none: no such bound).
 */
export function maxDownloadBytes(maxInputBytes: number, memoryBudgetBytes?: number): number {
  return memoryBudgetBytes === undefined ? maxInputBytes : Math.min(maxInputBytes, Math.floor(memoryBudgetBytes / INPUT_BYTES_HELD));
}

export const DEFAULTS = {
  inputPrefix: '',
  outputPrefix: '',
  acceptedFormats: ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as readonly InputFormat[],
  /** 40 megapixels: a 24 MP camera photo fits, and a decode stays inside a 128 MB function. */
  maxInputPixels: 40_000_000,
  /** 50 MiB. */
  maxInputBytes: 50 * 1024 * 1024,
  keepMetadata: false,
  concurrency: 1,
  memorySizeMb: 512,
  timeoutSeconds: 30,
  retryAttempts: 2,
  maxEventAgeSeconds: 6 * 60 * 60,
  logRetentionDays: 30,
  trigger: 's3-notification' as Trigger,
  queueBatchSize: 10,
  /**
   * Receives of an upload message before it goes to the failure queue. Lambda's guidance for SQS
   * event sources is at least 5: a throttled batch counts as a receive too.
   */
  queueMaxReceiveCount: 5,
  emitEvents: true,
  rejectedImagesAlarmThreshold: 1,
  createDashboard: true,
  manifest: false,
  processDeletes: false,
  /** DetectLabels' own default minimum confidence. */
  labelsMinConfidence: 55,
  labelsMaxLabels: 10,
} as const;

// ---------------------------------------------------------------------------------------------
// Limits

/** Inclusive integer ranges. */
export const LIMITS = {
  /** Largest edge libvips' encoders accept for every output format (WebP is the tightest). */
  dimension: { min: 1, max: 16383 },
  quality: { min: 1, max: 100 },
  variants: { min: 1, max: 10 },
  maxInputPixels: { min: 1, max: Number.MAX_SAFE_INTEGER },
  maxInputBytes: { min: 1, max: Number.MAX_SAFE_INTEGER },
  concurrency: { min: 1, max: 64 },
  /**
   * Memory each record processed at once needs, MiB: what a 128 MB function spares for its one
   * image (128 less HANDLER_BASELINE_MB), in which a 24 MP JPEG is decoded.
   */
  recordMemoryMb: 28,
  memorySizeMb: { min: 128, max: 10240 },
  timeoutSeconds: { min: 1, max: 900 },
  retryAttempts: { min: 0, max: 2 },
  maxEventAgeSeconds: { min: 60, max: 21600 },
  reservedConcurrency: { min: 1, max: 100_000 },
  rejectedImagesAlarmThreshold: { min: 1, max: 1_000_000 },
  queueBatchSize: { min: 1, max: 10_000 },
  /** Above this batch size, Lambda needs a batching window. */
  queueBatchSizeWithoutWindow: 10,
  queueMaxBatchingWindowSeconds: 300,
  /** At least Lambda's guidance of 5; SQS allows up to 1000. */
  queueMaxReceiveCount: { min: 5, max: 1000 },
  /** The event source mapping's maximum concurrency (ScalingConfig.MaximumConcurrency). */
  queueMaxConcurrency: { min: 2, max: 1000 },
  /** Rules by prefix of one pipeline: each is one S3 notification per suffix. */
  rules: { min: 1, max: 20 },
  /**
   * The most frames an animated input a variant keeps animated may have. Its pixels, every frame
   * counted, are held to maxInputPixels as well (sharp's limitInputPixels counts every page).
   */
  animationFrames: 500,
  /** S3's limit on an object's user metadata: the UTF-8 bytes of every key and value, added up. */
  userMetadataBytes: 2048,
  /**
   * What the handler's own `source-*` metadata takes at most without `source-key` (which is left
   * out when it does not fit): the key hash (17 + 64 bytes), the eTag (11 + up to 40, multipart
   * included), the sequencer (16 + up to 52).
   */
  sourceMetadataBytes: 200,
  /** The longest Cache-Control, Content-Disposition or user metadata value a variant may set. */
  headerValueLength: 1024,
  /** The longest output key template. */
  keyTemplateLength: 512,
  /**
   * The most pixels one variant's output may have (40 megapixels, the default maxInputPixels): a
   * variant that would make more (a large box, an enlargement, an extreme aspect ratio) is refused
   * before it is encoded, as `output-too-large`, so that no accepted input runs past the timeout.
   */
  outputPixels: 40_000_000,
  /** DetectLabels' MinConfidence, a percentage. */
  labelsMinConfidence: { min: 0, max: 100 },
  /** At most 100 labels, so that the manifest stays small and the ImageProcessed event well within EventBridge's 256 KB. */
  labelsMaxLabels: { min: 1, max: 100 },
} as const;

/** A variant's name: the first path segment of its output keys. */
export const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const VARIANT_NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

/** A background colour. */
export const COLOUR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** A user metadata key a variant may set: lower case (S3 keeps them so), digits and '-'. */
export const METADATA_KEY = /^[a-z0-9][a-z0-9-]{0,127}$/;
/** The metadata keys the handler keeps for itself. */
export const RESERVED_METADATA_PREFIX = 'source-';

/** Header and metadata values: printable US-ASCII (what an HTTP header carries as is). */
const HEADER_VALUE = /^[\x20-\x7e]*$/;

/**
 * The placeholders of an output key template, for an input key `photos/2024/cat.JPG` under the
 * input prefix: `{variant}` the variant's name; `{path}` the key less the input prefix and the
 * extension (`photos/2024/cat`); `{dir}` its folder (`photos/2024`, empty at the top: `{dir}/`
 * then writes nothing); `{name}` the file name less the extension (`cat`); `{inputExt}` the
 * input's extension as written (`JPG`, empty if none); `{ext}` the output format's extension
 * (`jpg`, `webp`, ...); `{width}` and `{height}` the variant's configured width and height.
 */
export const KEY_PLACEHOLDERS = ['variant', 'path', 'dir', 'name', 'inputExt', 'ext', 'width', 'height'] as const;
export type KeyPlaceholder = typeof KEY_PLACEHOLDERS[number];

/** The output key of a variant when it sets no template: `<variant>/<path>.<ext>` under the output prefix. */
export const DEFAULT_KEY_TEMPLATE = '{variant}/{path}.{ext}';

// ---------------------------------------------------------------------------------------------
// Rules, shared by the construct's synth-time checks and the handler's init-time parse. Each
// returns the problems it finds as messages that name the field and the value; none is empty.

/** Tells which values are not known yet (CDK tokens at synth time); they are not checked. */
export type IsUnknown = (value: unknown) => boolean;
const known: IsUnknown = () => false;

/** The value as a message shows it: `256`, `"256" (string)`, `true (boolean)`. */
export function shown(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return `${JSON.stringify(v)} (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
}

/** An optional integer within `range`. */
export function integerProblems(name: string, v: unknown, range: { min: number; max: number }, isUnknown = known): string[] {
  if (v === undefined || v === null || isUnknown(v)) return [];
  if (typeof v === 'string') {
    return [`${name} must be an integer from ${range.min} to ${range.max}, got ${shown(v)} (string)`];
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
    return [`${name} must be an integer from ${range.min} to ${range.max}, got ${shown(v)}`];
  }
  return [];
}

/** An optional value from `allowed`. */
export function oneOfProblems(name: string, v: unknown, allowed: readonly string[], isUnknown = known): string[] {
  if (v === undefined || v === null || isUnknown(v)) return [];
  return typeof v === 'string' && allowed.includes(v) ? [] : [`${name} must be one of ${allowed.join(', ')}, got ${shown(v)}`];
}

/** An optional boolean. */
export function booleanProblems(name: string, v: unknown, isUnknown = known): string[] {
  if (v === undefined || v === null || isUnknown(v)) return [];
  return typeof v === 'boolean' ? [] : [`${name} must be true or false, got ${shown(v)}`];
}

/** An optional key prefix. */
export function prefixProblems(name: string, v: unknown, isUnknown = known): string[] {
  if (v === undefined || v === null || isUnknown(v)) return [];
  if (typeof v !== 'string') return [`${name} must be a string, got ${shown(v)}`];
  return v.startsWith('/') ? [`${name} must not start with "/" (S3 keys have no leading slash), got "${v}"`] : [];
}

/** True when one prefix contains the other, so objects under one could be under both. */
export function prefixesOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/** One variant, `where` naming it (`variants[0]`). */
export function variantProblems(v: unknown, where: string, isUnknown = known): string[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${where} must be an object, got ${shown(v)}`];
  const o = v as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o.name !== 'string' || !isUnknown(o.name) && !VARIANT_NAME.test(o.name)) {
    problems.push(`${where}.name must be ${VARIANT_NAME_RULE}, got ${shown(o.name ?? '')}`);
  }
  problems.push(
    ...integerProblems(`${where}.width`, o.width, LIMITS.dimension, isUnknown),
    ...integerProblems(`${where}.height`, o.height, LIMITS.dimension, isUnknown),
    ...integerProblems(`${where}.quality`, o.quality, LIMITS.quality, isUnknown),
    ...oneOfProblems(`${where}.fit`, o.fit, FITS, isUnknown),
    ...oneOfProblems(`${where}.format`, o.format, OUTPUT_FORMATS, isUnknown),
    ...booleanProblems(`${where}.grayscale`, o.grayscale, isUnknown),
    ...booleanProblems(`${where}.withoutEnlargement`, o.withoutEnlargement, isUnknown),
  );
  const bg = o.background;
  if (bg !== undefined && bg !== null && !isUnknown(bg) && (typeof bg !== 'string' || !COLOUR.test(bg))) {
    problems.push(`${where}.background must be a colour like "#ffffff", got ${shown(bg)}`);
  }
  problems.push(...outputFeatureProblems(o, where, isUnknown));
  return problems;
}

const given = (v: unknown, isUnknown: IsUnknown) => v !== undefined && v !== null && !isUnknown(v);

/** A variant's output features: key template, position, animation, headers and metadata, the never-larger guard. */
function outputFeatureProblems(o: Record<string, unknown>, where: string, isUnknown: IsUnknown): string[] {
  const problems: string[] = [
    ...oneOfProblems(`${where}.position`, o.position, POSITIONS, isUnknown),
    ...booleanProblems(`${where}.animated`, o.animated, isUnknown),
    ...booleanProblems(`${where}.copyUserMetadata`, o.copyUserMetadata, isUnknown),
    ...oneOfProblems(`${where}.whenLarger`, o.whenLarger, LARGER_OUTPUT_ACTIONS, isUnknown),
    ...headerValueProblems(`${where}.cacheControl`, o.cacheControl, isUnknown),
    ...headerValueProblems(`${where}.contentDisposition`, o.contentDisposition, isUnknown),
    ...metadataProblems(`${where}.metadata`, o.metadata, isUnknown),
  ];
  if (given(o.key, isUnknown)) problems.push(...keyTemplateProblems(`${where}.key`, o.key, o, isUnknown));
  const fit = isUnknown(o.fit) ? undefined : o.fit ?? VARIANT_DEFAULTS.fit;
  const position = o.position;
  if (given(position, isUnknown) && typeof position === 'string' && (POSITIONS as readonly string[]).includes(position) && fit !== undefined) {
    if (fit !== 'cover' && fit !== 'contain') {
      problems.push(`${where}.position applies only with fit cover or contain (where a crop or a letterbox has a place), got fit ${shown(fit)}`);
    } else if (fit === 'contain' && CROP_STRATEGIES.includes(position as Position)) {
      problems.push(`${where}.position ${shown(position)} is a crop strategy, which applies only with fit cover; with contain use a gravity such as "north"`);
    }
    if (o.animated === true && CROP_STRATEGIES.includes(position as Position)) {
      problems.push(`${where}.position ${shown(position)} cannot crop an animation (sharp's crop strategies take one frame): `
        + 'use a gravity such as "centre", or leave animated unset');
    }
  }
  const format = o.format ?? VARIANT_DEFAULTS.format;
  if (o.animated === true && !isUnknown(format) && !ANIMATED_FORMATS.includes(format as OutputFormat)) {
    problems.push(`${where}.animated needs a format that keeps frames (${ANIMATED_FORMATS.join(', ')}), got format ${shown(format)}`);
  }
  return problems;
}

function headerValueProblems(name: string, v: unknown, isUnknown: IsUnknown): string[] {
  if (!given(v, isUnknown)) return [];
  const max = LIMITS.headerValueLength;
  if (typeof v !== 'string' || v.length === 0 || v.length > max || !HEADER_VALUE.test(v)) {
    return [`${name} must be 1 to ${max} printable US-ASCII characters (an HTTP header value), got ${shown(v)}`];
  }
  return [];
}

/** The bytes S3 counts for user metadata: the UTF-8 bytes of every key and value. */
export function metadataBytes(m: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(m)) n += utf8Length(k) + utf8Length(v);
  return n;
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** The room a variant's own metadata has: S3's 2 KB less the handler's `source-*` (but `source-key`, which gives way). */
export const VARIANT_METADATA_BYTES = LIMITS.userMetadataBytes - LIMITS.sourceMetadataBytes;

function metadataProblems(name: string, v: unknown, isUnknown: IsUnknown): string[] {
  if (!given(v, isUnknown)) return [];
  if (typeof v !== 'object' || Array.isArray(v)) return [`${name} must be a map of names to values, got ${shown(v)}`];
  const problems: string[] = [];
  const entries = Object.entries(v as Record<string, unknown>);
  for (const [k, value] of entries) {
    if (isUnknown(k)) continue;
    if (!METADATA_KEY.test(k)) {
      problems.push(`${name} key ${shown(k)} must be 1 to 128 lower-case letters, digits or '-', starting with a letter or digit`);
    } else if (k.startsWith(RESERVED_METADATA_PREFIX)) {
      problems.push(`${name} key ${shown(k)} starts with "${RESERVED_METADATA_PREFIX}", which the pipeline keeps for the upload an output comes from`);
    }
    problems.push(...headerValueProblems(`${name}[${JSON.stringify(k)}]`, value, isUnknown));
  }
  if (problems.length === 0 && entries.every(([k, value]) => !isUnknown(k) && typeof value === 'string' && !isUnknown(value))) {
    const bytes = metadataBytes(v as Record<string, string>);
    if (bytes > VARIANT_METADATA_BYTES) {
      problems.push(`${name} takes ${bytes} bytes (keys and values), more than the ${VARIANT_METADATA_BYTES} S3's `
        + `${LIMITS.userMetadataBytes} bytes of user metadata leave beside the pipeline's own source-* metadata`);
    }
  }
  return problems;
}

/** An output key template: known placeholders only, one that keeps inputs apart, sizes that are set. */
function keyTemplateProblems(name: string, v: unknown, o: Record<string, unknown>, isUnknown: IsUnknown): string[] {
  const max = LIMITS.keyTemplateLength;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) return [`${name} must be a key template of 1 to ${max} characters, got ${shown(v)}`];
  const problems: string[] = [];
  const used = new Set<string>();
  const rest = v.replace(/\{([^{}]*)\}/g, (_, p: string) => {
    if ((KEY_PLACEHOLDERS as readonly string[]).includes(p)) used.add(p);
    else problems.push(`${name} has an unknown placeholder {${p}} in ${shown(v)} (known: ${KEY_PLACEHOLDERS.map((k) => `{${k}}`).join(', ')})`);
    return '';
  });
  if (/[{}]/.test(rest)) problems.push(`${name} has an unmatched "{" or "}" in ${shown(v)}`);
  if (!used.has('path') && !(used.has('dir') && used.has('name'))) {
    problems.push(`${name} ${shown(v)} must hold {path}, or {dir} and {name}: without them inputs in different folders `
      + 'or with different names would be written to one output key');
  }
  if (v.startsWith('/')) problems.push(`${name} must not start with "/" (S3 keys have no leading slash), got ${shown(v)}`);
  if (v.startsWith('_')) problems.push(`${name} must not start with "_", which the pipeline keeps for its own records (${FAILURE_FOLDER}), got ${shown(v)}`);
  for (const edge of ['width', 'height'] as const) {
    if (used.has(edge) && !isUnknown(o[edge]) && (o[edge] === undefined || o[edge] === null)) {
      problems.push(`${name} uses {${edge}}, but the variant sets no ${edge}`);
    }
  }
  return problems;
}

/**
 * An output key from a template. `relative` is the input key less the input prefix; `ext` the
 * output's extension; the result goes under the output prefix.
 */
export function renderKeyTemplate(template: string, v: Pick<VariantConfig, 'name' | 'width' | 'height'>, relative: string, ext: string): string {
  const slash = relative.lastIndexOf('/');
  const dot = relative.lastIndexOf('.');
  const stem = dot > slash + 1 ? relative.slice(0, dot) : relative;
  const inputExt = dot > slash + 1 ? relative.slice(dot + 1) : '';
  const dir = slash < 0 ? '' : relative.slice(0, slash);
  const values: Record<KeyPlaceholder, string> = {
    variant: v.name,
    path: stem,
    dir,
    name: stem.slice(slash + 1),
    inputExt,
    ext,
    width: v.width === undefined ? '' : String(v.width),
    height: v.height === undefined ? '' : String(v.height),
  };
  return template
    .replace(/\{dir\}\//g, dir === '' ? '' : `${dir}/`)
    .replace(/\{([A-Za-z]+)\}/g, (m, p: string) => (values as Record<string, string>)[p] ?? m);
}

/**
 * Two variants of one set whose templates give one input the same output key. Checked on sample
 * keys in every extension each variant can be written with.
 */
function keyCollisionProblems(variants: unknown[], where: string): string[] {
  const problems: string[] = [];
  const samples = ['a/b/c.jpg', 'c.png', 'd'];
  const keysOf = (v: Record<string, unknown>): Set<string> | undefined => {
    const template = v.key ?? DEFAULT_KEY_TEMPLATE;
    if (typeof template !== 'string' || typeof v.name !== 'string') return undefined;
    const exts = v.format === 'original' || v.whenLarger === 'keep-source' ? Object.values(OUTPUT_EXTENSIONS)
      : [OUTPUT_EXTENSIONS[(v.format ?? VARIANT_DEFAULTS.format) as keyof typeof OUTPUT_EXTENSIONS] ?? String(v.format)];
    const sized = { name: v.name, width: v.width as number | undefined, height: v.height as number | undefined };
    return new Set(samples.flatMap((s) => exts.map((e) => `${s}\u0000${renderKeyTemplate(template, sized, s, e)}`)));
  };
  const keys = variants.map((v) => (typeof v === 'object' && v !== null ? keysOf(v as Record<string, unknown>) : undefined));
  keys.forEach((a, i) => keys.slice(0, i).forEach((b, j) => {
    if (a && b && [...a].some((k) => b.has(k))) {
      problems.push(`${where}[${i}] and ${where}[${j}] would write one input to the same output key: give their key templates `
        + 'something that differs, such as {variant}, or sizes that differ with {width} and {height}');
    }
  }));
  return problems;
}

/** The variant list: its length, each variant, unique names, output keys apart. `where` names it (`variants`). */
export function variantsProblems(v: unknown, isUnknown = known, where = 'variants'): string[] {
  if (v === undefined || isUnknown(v)) return [];
  if (!Array.isArray(v)) return [`${where} must be a list of variants, got ${shown(v)}`];
  const { min, max } = LIMITS.variants;
  const problems = v.length < min || v.length > max ? [`${where} must hold ${min} to ${max} variants, got ${v.length}`] : [];
  const names = new Set<unknown>();
  v.forEach((variant, i) => {
    problems.push(...variantProblems(variant, `${where}[${i}]`, isUnknown));
    const name = (variant as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && VARIANT_NAME.test(name) && names.has(name)) {
      problems.push(`${where}[${i}].name "${name}" is used by another variant; names must be unique`);
    }
    names.add(name);
  });
  if (problems.length === 0 && !v.some((x) => JSON.stringify(x, (_k, y: unknown) => (isUnknown(y) ? undefined : y)) !== JSON.stringify(x))) {
    problems.push(...keyCollisionProblems(v, where));
  }
  return problems;
}

/**
 * Rules by prefix: their number, each prefix and its variants, no two prefixes that overlap (S3
 * would refuse their notifications, and a key could match both), and `variants` not given beside them.
 */
export function rulesProblems(rules: unknown, variants: unknown, isUnknown = known): string[] {
  if (rules === undefined || rules === null || isUnknown(rules)) return [];
  if (!Array.isArray(rules)) return [`rules must be a list of rules, got ${shown(rules)}`];
  const { min, max } = LIMITS.rules;
  const problems = rules.length < min || rules.length > max ? [`rules must hold ${min} to ${max} rules, got ${rules.length}`] : [];
  if (variants !== undefined && variants !== null) {
    problems.push('variants and rules are exclusive: with rules, each rule lists the variants of the keys under its prefix');
  }
  rules.forEach((rule, i) => {
    const where = `rules[${i}]`;
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
      problems.push(`${where} must be an object, got ${shown(rule)}`);
      return;
    }
    const r = rule as Record<string, unknown>;
    if (!isUnknown(r.prefix) && typeof r.prefix !== 'string') problems.push(`${where}.prefix must be a string, got ${shown(r.prefix)}`);
    problems.push(...prefixProblems(`${where}.prefix`, r.prefix, isUnknown));
    if (r.variants === undefined || r.variants === null) problems.push(`${where}.variants is required`);
    else problems.push(...variantsProblems(r.variants, isUnknown, `${where}.variants`));
    rules.slice(0, i).forEach((other, j) => {
      const a = r.prefix;
      const b = (other as { prefix?: unknown } | null)?.prefix;
      if (typeof a === 'string' && typeof b === 'string' && !isUnknown(a) && !isUnknown(b) && prefixesOverlap(a, b)) {
        problems.push(`rules[${j}].prefix ${shown(b)} and rules[${i}].prefix ${shown(a)} overlap (one starts with the other${a === '' || b === '' ? ', and an empty prefix overlaps every other' : ''}): `
          + 'a key under both would match two rules, and S3 refuses overlapping notifications on one bucket');
      }
    });
  });
  return problems;
}

/** The accepted input formats. */
export function acceptedFormatsProblems(v: unknown, isUnknown = known): string[] {
  if (v === undefined || isUnknown(v)) return [];
  if (!Array.isArray(v)) return [`acceptedFormats must be a list of formats, got ${shown(v)}`];
  if (v.length === 0) return ['acceptedFormats must name at least one format'];
  return v.flatMap((f, i) => oneOfProblems(`acceptedFormats[${i}]`, f, INPUT_FORMATS, isUnknown));
}

/**
 * Input and output in one bucket need prefixes that do not overlap (an empty prefix overlaps
 * every other); the problem if they do. `bucket` names the bucket when it is known.
 */
export function sharedBucketProblems(inputPrefix: string, outputPrefix: string, bucket?: string): string[] {
  if (!prefixesOverlap(inputPrefix, outputPrefix)) return [];
  return [`inputBucket and outputBucket are the same bucket${bucket === undefined ? '' : ` ("${bucket}")`}, so inputPrefix `
    + `("${inputPrefix}") and outputPrefix ("${outputPrefix}") overlap: both must be set and neither may start with the other, `
    + 'otherwise every output would trigger the processor again'];
}

/** An optional number (not necessarily whole) within `range`. */
export function numberProblems(name: string, v: unknown, range: { min: number; max: number }, isUnknown = known): string[] {
  if (v === undefined || v === null || isUnknown(v)) return [];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < range.min || v > range.max) {
    return [`${name} must be a number from ${range.min} to ${range.max}, got ${shown(v)}${typeof v === 'string' ? ' (string)' : ''}`];
  }
  return [];
}

/** The opt-in features as the props and the document both give them. */
export interface FeaturesInput {
  readonly manifest?: unknown;
  readonly processDeletes?: unknown;
  readonly labels?: unknown;
}

/** The manifest, deletes and labels settings. */
export function featuresProblems(o: FeaturesInput, isUnknown = known): string[] {
  const problems = [
    ...booleanProblems('manifest', o.manifest, isUnknown),
    ...booleanProblems('processDeletes', o.processDeletes, isUnknown),
  ];
  const labels = o.labels;
  if (labels === undefined || labels === null || isUnknown(labels)) return problems;
  if (typeof labels !== 'object' || Array.isArray(labels)) return [...problems, `labels must be an object, got ${shown(labels)}`];
  const l = labels as Record<string, unknown>;
  return [
    ...problems,
    ...numberProblems('labels.minConfidence', l.minConfidence, LIMITS.labelsMinConfidence, isUnknown),
    ...integerProblems('labels.maxLabels', l.maxLabels, LIMITS.labelsMaxLabels, isUnknown),
  ];
}

/**
 * The document's fields for the opt-in features, defaults filled in; a feature that is off is
 * left out, so that a pipeline without them has the same document as before they existed.
 */
export function featuresConfig(o: {
  readonly manifest?: boolean;
  readonly processDeletes?: boolean;
  readonly labels?: { readonly minConfidence?: number; readonly maxLabels?: number };
}): Pick<PipelineConfig, 'manifest' | 'processDeletes' | 'labels'> {
  return {
    ...(o.manifest ? { manifest: true } : {}),
    ...(o.processDeletes ? { processDeletes: true } : {}),
    ...(o.labels ? {
      labels: {
        minConfidence: o.labels.minConfidence ?? DEFAULTS.labelsMinConfidence,
        maxLabels: o.labels.maxLabels ?? DEFAULTS.labelsMaxLabels,
      },
    } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Building the document

/** A variant with every default filled in, fields in the document's order. */
export function completeVariant(v: VariantInput): VariantConfig {
  return {
    name: v.name,
    width: v.width,
    height: v.height,
    fit: v.fit ?? VARIANT_DEFAULTS.fit,
    grayscale: v.grayscale ?? VARIANT_DEFAULTS.grayscale,
    format: v.format ?? VARIANT_DEFAULTS.format,
    quality: v.quality,
    withoutEnlargement: v.withoutEnlargement ?? VARIANT_DEFAULTS.withoutEnlargement,
    background: v.background ?? VARIANT_DEFAULTS.background,
    // Left out when unset, so that a document without them is as it was.
    key: v.key,
    position: v.position,
    animated: v.animated,
    cacheControl: v.cacheControl,
    contentDisposition: v.contentDisposition,
    metadata: v.metadata,
    copyUserMetadata: v.copyUserMetadata,
    whenLarger: v.whenLarger,
  };
}

/** A rule with every variant's defaults filled in. */
export function completeRule(r: { prefix: string; variants: readonly VariantInput[] }): RuleConfig {
  return { prefix: r.prefix, variants: r.variants.map(completeVariant) };
}
