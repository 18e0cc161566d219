/**
 * The handler's configuration: the JSON document in the PIPELINE_CONFIG environment variable,
 * whose types, defaults, limits and rules are the contract's (`src/contract.ts`), the same the
 * construct applies at synth time. The handler and the local runner parse it here at init and
 * refuse to start on a bad one.
 */
import * as contract from '../src/contract';
import type { EventsConfig, PipelineConfig, RuleConfig, VariantConfig } from '../src/contract';

export type { EventsConfig, Fit, InputFormat, OutputFormat, PipelineConfig, RuleConfig, VariantConfig } from '../src/contract';

/** A PIPELINE_CONFIG that cannot be used. The message says which field and why. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(`${contract.CONFIG_ENV_VAR}: ${message}`);
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

/** Checks a document with the contract's rules and fills in its defaults. */
export function validatePipelineConfig(doc: unknown): PipelineConfig {
  const o = asObject(doc, 'the document');
  const version = o.version ?? contract.CONFIG_VERSION;
  if (version !== contract.CONFIG_VERSION) {
    throw new ConfigError(`version must be ${contract.CONFIG_VERSION}, got ${JSON.stringify(version)}`);
  }
  const outputBucket = requiredString(o, 'outputBucket');
  const inputBucket = optionalString(o, 'inputBucket');
  const { DEFAULTS, LIMITS } = contract;
  const rulesRaw = o.rules ?? undefined;
  // With rules, the variants are the rules'; a document may say so with an empty list.
  const variantsGiven = Array.isArray(o.variants) && o.variants.length === 0 && rulesRaw !== undefined ? undefined : o.variants;
  const variantsRaw = rulesRaw !== undefined ? [] : o.variants ?? [contract.DEFAULT_VARIANT];
  if (rulesRaw === undefined && (!Array.isArray(variantsRaw) || variantsRaw.length === 0)) {
    throw new ConfigError('variants must be a non-empty array');
  }
  check(
    contract.prefixProblems('inputPrefix', o.inputPrefix),
    contract.prefixProblems('outputPrefix', o.outputPrefix),
    rulesRaw === undefined ? contract.variantsProblems(variantsRaw) : contract.rulesProblems(rulesRaw, variantsGiven),
    contract.acceptedFormatsProblems(o.acceptedFormats),
    contract.integerProblems('maxInputPixels', o.maxInputPixels, LIMITS.maxInputPixels),
    contract.integerProblems('maxInputBytes', o.maxInputBytes, LIMITS.maxInputBytes),
    contract.booleanProblems('keepMetadata', o.keepMetadata),
    contract.integerProblems('concurrency', o.concurrency, LIMITS.concurrency),
    contract.featuresProblems(o),
  );
  const inputPrefix = (o.inputPrefix ?? DEFAULTS.inputPrefix) as string;
  const outputPrefix = (o.outputPrefix ?? DEFAULTS.outputPrefix) as string;
  const rules = (rulesRaw as RuleConfig[] | undefined)?.map(contract.completeRule);
  if (inputBucket !== undefined && inputBucket === outputBucket) {
    const prefixes = rules === undefined ? [inputPrefix] : rules.map((r) => `${inputPrefix}${r.prefix}`);
    check(...prefixes.map((prefix) => contract.sharedBucketProblems(prefix, outputPrefix, outputBucket)));
  }

  return {
    version: contract.CONFIG_VERSION,
    inputBucket,
    outputBucket,
    inputPrefix,
    outputPrefix,
    variants: (variantsRaw as VariantConfig[]).map(contract.completeVariant),
    ...(rules === undefined ? {} : { rules }),
    acceptedFormats: (o.acceptedFormats as PipelineConfig['acceptedFormats'] | undefined) ?? DEFAULTS.acceptedFormats,
    maxInputPixels: (o.maxInputPixels as number | undefined) ?? DEFAULTS.maxInputPixels,
    maxInputBytes: (o.maxInputBytes as number | undefined) ?? DEFAULTS.maxInputBytes,
    keepMetadata: (o.keepMetadata as boolean | undefined) ?? DEFAULTS.keepMetadata,
    concurrency: (o.concurrency as number | undefined) ?? DEFAULTS.concurrency,
    events: o.events === undefined || o.events === null ? undefined : parseEvents(o.events),
    ...contract.featuresConfig(o as Parameters<typeof contract.featuresConfig>[0]),
  };
}

/** Throws the first problem found, if any. */
function check(...problems: string[][]): void {
  const first = problems.flat()[0];
  if (first !== undefined) throw new ConfigError(first);
}

function parseEvents(doc: unknown): EventsConfig {
  const o = asObject(doc, 'events');
  return {
    eventBusName: requiredString(o, 'eventBusName', 'events'),
    source: optionalString(o, 'source', 'events') ?? contract.EVENT_SOURCE,
  };
}

function asObject(doc: unknown, where: string): Record<string, unknown> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${where} must be a JSON object`);
  }
  return doc as Record<string, unknown>;
}

function requiredString(o: Record<string, unknown>, key: string, where?: string): string {
  const v = optionalString(o, key, where);
  if (v === undefined || v === '') {
    throw new ConfigError(`${where ? `${where}.${key}` : key} is required`);
  }
  return v;
}

function optionalString(o: Record<string, unknown>, key: string, where?: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw new ConfigError(`${where ? `${where}.${key}` : key} must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}
