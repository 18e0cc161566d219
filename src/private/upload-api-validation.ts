import { Duration, Size, Token } from 'aws-cdk-lib';
import type { InputFormat } from '../contract';
import { handlerMaxBytes, UPLOAD_API_LIMITS, UPLOAD_FOLDER, UPLOAD_TYPES } from './upload-api-contract';
import type { UploadApiOptions } from '../upload-api';

/** What the checks need of the pipeline. */
export interface ApiPipelineLimits {
  readonly inputSuffixes: readonly string[];
  readonly acceptedFormats: readonly InputFormat[];
  readonly maxInputBytes: number;
  readonly memorySizeMb: number;
  /** Records one handler instance processes at once. */
  readonly concurrency: number;
  /** The rules' key prefixes, under the input prefix, when the pipeline has rules. */
  readonly rulePrefixes?: readonly string[];
}

/**
 * The problems of an upload API's options, each naming the option (after `where`, such as
 * `uploadApi.`) and the value.
 */
export function uploadApiProblems(o: UploadApiOptions, p: ApiPipelineLimits, where: string): string[] {
  const problems: string[] = [];
  if (o.authorizer !== undefined && o.allowUnauthenticated) {
    problems.push(`${where}authorizer and ${where}allowUnauthenticated exclude each other: an authorizer is authorization`);
  }
  for (const [i, origin] of (o.allowedOrigins ?? []).entries()) {
    if (Token.isUnresolved(origin)) continue;
    if (!/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(origin)) {
      problems.push(`${where}allowedOrigins[${i}] must be an origin such as "https://app.example.com" (scheme, host and port only; `
        + `no path, no wildcard: "*" would let any web page upload), got ${JSON.stringify(origin)}`);
    } else if (origin.startsWith('http://') && !/^http:\/\/(?:localhost|127\.0\.0\.1)(?::\d+)?$/.test(origin)) {
      problems.push(`${where}allowedOrigins[${i}] must use https (plain http only for localhost), got ${JSON.stringify(origin)}`);
    }
  }
  problems.push(...durationProblems(`${where}uploadUrlExpiry`, o.uploadUrlExpiry));
  problems.push(...durationProblems(`${where}downloadUrlExpiry`, o.downloadUrlExpiry));
  problems.push(...integerProblems(`${where}throttleRateLimit`, o.throttleRateLimit, UPLOAD_API_LIMITS.throttleRateLimit));
  problems.push(...integerProblems(`${where}throttleBurstLimit`, o.throttleBurstLimit, UPLOAD_API_LIMITS.throttleBurstLimit));
  problems.push(...integerProblems(`${where}serverErrorsAlarmThreshold`, o.serverErrorsAlarmThreshold, UPLOAD_API_LIMITS.serverErrorsAlarmThreshold));
  const latency = o.latencyAlarmThreshold?.toMilliseconds();
  if (latency !== undefined && !Token.isUnresolved(latency)
    && (latency < UPLOAD_API_LIMITS.latencyAlarmThresholdMs.min || latency > UPLOAD_API_LIMITS.latencyAlarmThresholdMs.max)) {
    problems.push(`${where}latencyAlarmThreshold must be from 1 ms to 30 seconds (API Gateway's integration timeout), got ${o.latencyAlarmThreshold!.toHumanString()}`);
  }
  const ceiling = handlerMaxBytes(p.maxInputBytes, p.memorySizeMb, p.concurrency);
  const max = sizeBytes(o.maxUploadSize);
  if (max !== undefined && (max < 1 || max > ceiling)) {
    problems.push(`${where}maxUploadSize must be from 1 byte to ${ceiling} bytes (what the processor takes: maxInputBytes, and a `
      + `quarter of memorySize less 100 MiB, shared by concurrency records), got ${max} bytes`);
  }
  const rules = p.rulePrefixes;
  if (rules !== undefined && rules.length > 0 && !rules.some((r) => typeof r !== 'string' || Token.isUnresolved(r) || UPLOAD_FOLDER.startsWith(r))) {
    problems.push(`${where.replace(/\.$/, '') || 'the upload API'}: uploads get keys under "${UPLOAD_FOLDER}" (after inputPrefix), which no rule's prefix `
      + `covers (${rules.map((r) => JSON.stringify(r)).join(', ')}), so they would never be processed: add a rule whose prefix is "${UPLOAD_FOLDER}"`);
  }
  if (p.inputSuffixes.length > 0 && !p.inputSuffixes.some((s) => Token.isUnresolved(s))) {
    for (const format of p.acceptedFormats) {
      const extension = `.${UPLOAD_TYPES[format]?.extension}`;
      if (UPLOAD_TYPES[format] && !p.inputSuffixes.some((s) => extension.endsWith(s))) {
        problems.push(`${where.replace(/\.$/, '') || 'the upload API'}: uploads of ${format} get keys ending in "${extension}", which no inputSuffixes `
          + `(${p.inputSuffixes.map((s) => JSON.stringify(s)).join(', ')}) match, so they would never be processed: add the suffix or leave ${format} out of acceptedFormats`);
      }
    }
  }
  return problems;
}

function sizeBytes(s: Size | undefined): number | undefined {
  if (s === undefined) return undefined;
  const bytes = s.toBytes();
  return Token.isUnresolved(bytes) ? undefined : bytes;
}

function durationProblems(name: string, d: Duration | undefined): string[] {
  const seconds = d?.toSeconds();
  if (seconds === undefined || Token.isUnresolved(seconds)) return [];
  const { min, max } = UPLOAD_API_LIMITS.urlExpirySeconds;
  return seconds >= min && seconds <= max ? [] : [`${name} must be from 1 minute to 1 hour, got ${d!.toHumanString()}`];
}

function integerProblems(name: string, v: number | undefined, range: { min: number; max: number }): string[] {
  if (v === undefined || Token.isUnresolved(v)) return [];
  return Number.isInteger(v) && v >= range.min && v <= range.max ? [] : [`${name} must be an integer from ${range.min} to ${range.max}, got ${v}`];
}
