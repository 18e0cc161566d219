/** Where the handler writes an input's results in the output bucket. */
import { FAILURE_FOLDER, type PipelineConfig } from '../src/contract';

/** The output key of a variant: `<outputPrefix><variant>/<input key less inputPrefix and extension>.<ext>`. */
export function variantKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string, variant: string, extension: string): string {
  return `${config.outputPrefix}${variant}/${stripExtension(relativeKey(config, inputKey))}.${extension}`;
}

/** Where the failure record of an input goes: `<outputPrefix>_failed/<input key less inputPrefix>.json`. */
export function failureKey(config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>, inputKey: string): string {
  return `${config.outputPrefix}${FAILURE_FOLDER}${relativeKey(config, inputKey)}.json`;
}

function relativeKey(config: Pick<PipelineConfig, 'inputPrefix'>, key: string): string {
  return key.startsWith(config.inputPrefix) ? key.slice(config.inputPrefix.length) : key;
}

function stripExtension(key: string): string {
  const slash = key.lastIndexOf('/');
  const dot = key.lastIndexOf('.');
  return dot > slash + 1 ? key.slice(0, dot) : key;
}
