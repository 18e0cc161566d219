/** Where the handler writes an input's results in the output bucket, and which variants an input gets. */
import {
  DEFAULT_KEY_TEMPLATE, FAILURE_FOLDER, MANIFEST_FOLDER, OUTPUT_EXTENSIONS, renderKeyTemplate, SKIPPED_FOLDER, TOMBSTONE_FOLDER,
  type PipelineConfig, type RuleConfig, type VariantConfig,
} from '../src/contract';

type Layout = Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'> & Partial<Pick<PipelineConfig, 'variants' | 'rules'>>;

/**
 * The output key of a variant: `<outputPrefix>` and the variant's key template (by default
 * `<variant>/<input key less inputPrefix and extension>.<ext>`). `variant` is the variant, or its
 * name: then its template is looked up in `config` (the rule of `inputKey`, or `variants`), and the
 * default one is used when `config` has no variant of that name.
 */
export function variantKey(config: Layout, inputKey: string, variant: string | Pick<VariantConfig, 'name' | 'key' | 'width' | 'height'>, extension: string): string {
  const v = typeof variant === 'string' ? findVariant(config, inputKey, variant) ?? { name: variant } : variant;
  return `${config.outputPrefix}${renderKeyTemplate(v.key ?? DEFAULT_KEY_TEMPLATE, v, relativeKey(config, inputKey), extension)}`;
}

/** Where the failure record of an input goes: `<outputPrefix>_failed/<input key less inputPrefix>.json`. */
export function failureKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string): string {
  return recordKey(config, FAILURE_FOLDER, inputKey);
}

/**
 * Where the skip record of an input goes, when the never-larger guard skipped every output of an
 * upload: `<outputPrefix>_skipped/<input key less inputPrefix>.json`.
 */
export function skipRecordKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string): string {
  return recordKey(config, SKIPPED_FOLDER, inputKey);
}

/** Where the manifest of an input goes: `<outputPrefix>_manifests/<input key less inputPrefix>.json`. */
export function manifestKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string): string {
  return recordKey(config, MANIFEST_FOLDER, inputKey);
}

/** Where an input's tombstone goes: `<outputPrefix>_deleted/<input key less inputPrefix>.json`. */
export function tombstoneKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string): string {
  return recordKey(config, TOMBSTONE_FOLDER, inputKey);
}

/** A record about an input, in one of the output prefix's folders: `<outputPrefix><folder><input key less inputPrefix>.json`. */
function recordKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, folder: string, inputKey: string): string {
  return `${config.outputPrefix}${folder}${relativeKey(config, inputKey)}.json`;
}

/** True when the never-larger guard of one of `variants` may skip it (`skip`, or `keep-source` for an SVG input). */
export function mayBeSkipped(variants: readonly Pick<VariantConfig, 'whenLarger'>[]): boolean {
  return variants.some((v) => v.whenLarger === 'skip' || v.whenLarger === 'keep-source');
}

/** The rule an input key falls under (its key less the input prefix starts with the rule's prefix); undefined under none. */
export function ruleFor(config: Pick<PipelineConfig, 'inputPrefix'> & Partial<Pick<PipelineConfig, 'rules'>>, inputKey: string): RuleConfig | undefined {
  const relative = relativeKey(config, inputKey);
  return config.rules?.find((r) => relative.startsWith(r.prefix));
}

/**
 * The variants an input key is made into: the pipeline's, or those of the rule it falls under;
 * undefined when the pipeline has rules and the key is under none.
 */
export function variantsFor(config: Pick<PipelineConfig, 'inputPrefix' | 'variants'> & Partial<Pick<PipelineConfig, 'rules'>>, inputKey: string): readonly VariantConfig[] | undefined {
  if (config.rules === undefined) return config.variants;
  return ruleFor(config, inputKey)?.variants;
}

/** Why a key under no rule is skipped. */
export function noRuleReason(config: Pick<PipelineConfig, 'inputPrefix'> & Partial<Pick<PipelineConfig, 'rules'>>): string {
  const prefixes = (config.rules ?? []).map((r) => `"${config.inputPrefix}${r.prefix}"`).join(', ');
  return `key is under no rule's prefix (rules: ${prefixes})`;
}

/**
 * Every output key an upload of `key` can have: each of its variants', in each extension it may be
 * written with (any, for `original` and for a variant whose never-larger guard keeps the source);
 * and its skip record, when the guard may skip.
 */
export function possibleOutputKeys(config: Layout & Pick<PipelineConfig, 'variants'>, key: string): string[] {
  const variants = variantsFor(config, key) ?? [];
  return [
    ...variants.flatMap((v) => variantExtensions(v).map((ext) => variantKey(config, key, v, ext))),
    ...mayBeSkipped(variants) ? [skipRecordKey(config, key)] : [],
  ];
}

/** The extensions a variant's outputs may have. */
export function variantExtensions(v: Pick<VariantConfig, 'format' | 'whenLarger'>): string[] {
  return v.format === 'original' || v.whenLarger === 'keep-source' ? Object.values(OUTPUT_EXTENSIONS) : [OUTPUT_EXTENSIONS[v.format]];
}

function findVariant(config: Layout, inputKey: string, name: string): VariantConfig | undefined {
  if (config.variants === undefined && config.rules === undefined) return undefined;
  return variantsFor({ variants: [], ...config }, inputKey)?.find((v) => v.name === name);
}

function relativeKey(config: Pick<PipelineConfig, 'inputPrefix'>, key: string): string {
  return key.startsWith(config.inputPrefix) ? key.slice(config.inputPrefix.length) : key;
}
