/**
 * The handler's configuration: the JSON document in the PIPELINE_CONFIG environment variable.
 * The construct writes it at synth time; the handler and the local runner parse it here at init
 * and refuse to start on a bad one.
 */

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export type Fit = typeof FITS[number];

export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'original'] as const;
export type OutputFormat = typeof OUTPUT_FORMATS[number];

export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'svg'] as const;
export type InputFormat = typeof INPUT_FORMATS[number];

/** One output image made from each upload. */
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

export interface PipelineConfig {
  readonly version: 1;
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
}

export interface EventsConfig {
  /** The event bus name or ARN. */
  readonly eventBusName: string;
  /** The events' `source`. */
  readonly source: string;
}

/** The `source` of the pipeline's EventBridge events. */
export const EVENT_SOURCE = 'image-preprocessing-pipeline';

/** The original system's output: one grayscale 256x256 JPEG, stretched to fill. */
export const DEFAULT_VARIANT: VariantConfig = {
  name: 'grayscale-256',
  width: 256,
  height: 256,
  fit: 'fill',
  grayscale: true,
  format: 'jpeg',
  quality: 80,
  withoutEnlargement: false,
  background: '#ffffff',
};

export const DEFAULT_ACCEPTED_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'];
/** 40 megapixels: a 24 MP camera photo fits, and a decode stays inside a 128 MB function. */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;
/** 50 MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 50 * 1024 * 1024;
/** Largest edge libvips' encoders accept for every output format (WebP is the tightest). */
export const MAX_DIMENSION = 16383;

const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COLOUR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** A PIPELINE_CONFIG that cannot be used. The message says which field and why. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(`PIPELINE_CONFIG: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Parses and validates a PIPELINE_CONFIG document, filling in every default. */
export function parsePipelineConfig(raw: string | undefined): PipelineConfig {
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError('is not set');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`is not valid JSON (${(e as Error).message})`);
  }
  return validatePipelineConfig(doc);
}

export function validatePipelineConfig(doc: unknown): PipelineConfig {
  const o = asObject(doc, 'the document');
  const version = o.version ?? 1;
  if (version !== 1) {
    throw new ConfigError(`version must be 1, got ${JSON.stringify(version)}`);
  }
  const outputBucket = requiredString(o, 'outputBucket');
  const inputBucket = optionalString(o, 'inputBucket');
  const inputPrefix = prefix(o, 'inputPrefix');
  const outputPrefix = prefix(o, 'outputPrefix');

  const variantsRaw = o.variants ?? [DEFAULT_VARIANT];
  if (!Array.isArray(variantsRaw) || variantsRaw.length === 0) {
    throw new ConfigError('variants must be a non-empty array');
  }
  const variants = variantsRaw.map((v, i) => parseVariant(v, i));
  const seen = new Set<string>();
  for (const v of variants) {
    if (seen.has(v.name)) {
      throw new ConfigError(`variant names must be unique, "${v.name}" appears twice`);
    }
    seen.add(v.name);
  }

  const formatsRaw = o.acceptedFormats ?? DEFAULT_ACCEPTED_FORMATS;
  if (!Array.isArray(formatsRaw) || formatsRaw.length === 0) {
    throw new ConfigError('acceptedFormats must be a non-empty array');
  }
  const acceptedFormats = formatsRaw.map((f, i) => oneOf(f, INPUT_FORMATS, `acceptedFormats[${i}]`));

  if (inputBucket !== undefined && inputBucket === outputBucket && overlaps(inputPrefix, outputPrefix)) {
    throw new ConfigError(`input and output share bucket "${outputBucket}" with overlapping prefixes `
      + `("${inputPrefix}" and "${outputPrefix}"): outputs would trigger the processor again`);
  }

  return {
    version: 1,
    inputBucket,
    outputBucket,
    inputPrefix,
    outputPrefix,
    variants,
    acceptedFormats,
    maxInputPixels: integer(o, 'maxInputPixels', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_MAX_INPUT_PIXELS,
    maxInputBytes: integer(o, 'maxInputBytes', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_MAX_INPUT_BYTES,
    keepMetadata: bool(o, 'keepMetadata') ?? false,
    concurrency: integer(o, 'concurrency', 1, 64) ?? 1,
    events: o.events === undefined || o.events === null ? undefined : parseEvents(o.events),
  };
}

/** True when one prefix contains the other, so objects under one could be under both. */
export function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

function parseEvents(doc: unknown): EventsConfig {
  const o = asObject(doc, 'events');
  return {
    eventBusName: requiredString(o, 'eventBusName', 'events'),
    source: optionalString(o, 'source', 'events') ?? EVENT_SOURCE,
  };
}

function parseVariant(doc: unknown, i: number): VariantConfig {
  const where = `variants[${i}]`;
  const o = asObject(doc, where);
  const name = requiredString(o, 'name', where);
  if (!VARIANT_NAME.test(name)) {
    throw new ConfigError(`${where}.name "${name}" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  const background = optionalString(o, 'background', where) ?? DEFAULT_VARIANT.background;
  if (!COLOUR.test(background)) {
    throw new ConfigError(`${where}.background must be a colour like "#ffffff", got "${background}"`);
  }
  return {
    name,
    width: integer(o, 'width', 1, MAX_DIMENSION, where),
    height: integer(o, 'height', 1, MAX_DIMENSION, where),
    fit: o.fit === undefined ? 'cover' : oneOf(o.fit, FITS, `${where}.fit`),
    grayscale: bool(o, 'grayscale', where) ?? false,
    format: o.format === undefined ? 'jpeg' : oneOf(o.format, OUTPUT_FORMATS, `${where}.format`),
    quality: integer(o, 'quality', 1, 100, where),
    withoutEnlargement: bool(o, 'withoutEnlargement', where) ?? false,
    background,
  };
}

function asObject(doc: unknown, where: string): Record<string, unknown> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${where} must be a JSON object`);
  }
  return doc as Record<string, unknown>;
}

function field(where: string | undefined, key: string): string {
  return where ? `${where}.${key}` : key;
}

function requiredString(o: Record<string, unknown>, key: string, where?: string): string {
  const v = optionalString(o, key, where);
  if (v === undefined || v === '') {
    throw new ConfigError(`${field(where, key)} is required`);
  }
  return v;
}

function optionalString(o: Record<string, unknown>, key: string, where?: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw new ConfigError(`${field(where, key)} must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function prefix(o: Record<string, unknown>, key: string): string {
  const v = optionalString(o, key) ?? '';
  if (v.startsWith('/')) {
    throw new ConfigError(`${key} must not start with "/", got "${v}"`);
  }
  return v;
}

function integer(o: Record<string, unknown>, key: string, min: number, max: number, where?: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${field(where, key)} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(o: Record<string, unknown>, key: string, where?: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    throw new ConfigError(`${field(where, key)} must be true or false, got ${JSON.stringify(v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${where} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}
