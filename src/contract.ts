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

export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'original'] as const;
export type OutputFormat = typeof OUTPUT_FORMATS[number];

export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'svg'] as const;
export type InputFormat = typeof INPUT_FORMATS[number];

export const TRIGGERS = ['s3-notification', 'queue'] as const;
export type Trigger = typeof TRIGGERS[number];

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
  readonly variants: readonly VariantConfig[];
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
  return problems;
}

/** The variant list: its length, each variant, unique names. */
export function variantsProblems(v: unknown, isUnknown = known): string[] {
  if (v === undefined || isUnknown(v)) return [];
  if (!Array.isArray(v)) return [`variants must be a list of variants, got ${shown(v)}`];
  const { min, max } = LIMITS.variants;
  const problems = v.length < min || v.length > max ? [`variants must hold ${min} to ${max} variants, got ${v.length}`] : [];
  const names = new Set<unknown>();
  v.forEach((variant, i) => {
    problems.push(...variantProblems(variant, `variants[${i}]`, isUnknown));
    const name = (variant as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && VARIANT_NAME.test(name) && names.has(name)) {
      problems.push(`variants[${i}].name "${name}" is used by another variant; names must be unique`);
    }
    names.add(name);
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
  };
}
