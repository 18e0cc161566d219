/**
 * `image-pipeline process`: the handler's transform on local files, written as the pipeline would
 * write them (`<out>/<variant>/<relative path without extension>.<ext>`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { PipelineConfig } from '../../config';
import { outputHeaders, type OutputHeaders } from '../../output-headers';
import { noRuleReason, variantsFor } from '../../output-keys';
import { configureSharp, ImageRejectedError, transformImage, variantKey, type RejectReason } from '../../transform';

export interface FileResult {
  readonly file: string;
  readonly bytesIn: number;
  readonly outputs: {
    path: string;
    bytes: number;
    width: number;
    height: number;
    channels: number;
    /** What the never-larger guard did; a `skipped` output was not written. */
    note?: { guard: 'kept-source' | 'skipped'; reason: string };
    /** The headers and metadata the pipeline would give the object (a file cannot carry them). */
    headers?: OutputHeaders;
  }[];
  readonly ms: number;
  /** Why the file was not processed, when the pipeline's rules give its path no variants. */
  readonly skipped?: string;
  readonly error?: { reason: RejectReason | 'unreadable' | 'unwritable'; message: string };
  /** Outputs that another input file had written too (`a.jpg` and `a.png` make one `a.jpg`): this file's replaced it. */
  readonly collisions?: { path: string; otherFile: string }[];
}

/** The files named, and every file under the folders named (hidden ones excepted). */
export function collectFiles(inputs: string[]): { file: string; relative: string }[] {
  const found: { file: string; relative: string }[] = [];
  for (const input of inputs) {
    const stat = fs.statSync(input, { throwIfNoEntry: false });
    if (!stat) throw new Error(`no such file or folder: ${input}`);
    if (stat.isDirectory()) {
      const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
          if (e.name.startsWith('.')) continue;
          const full = path.join(dir, e.name);
          if (e.isDirectory()) walk(full);
          else if (e.isFile()) found.push({ file: full, relative: path.relative(input, full).split(path.sep).join('/') });
        }
      };
      walk(input);
    } else {
      found.push({ file: input, relative: path.basename(input) });
    }
  }
  return found;
}

export async function processFiles(
  files: { file: string; relative: string }[],
  outDir: string,
  config: PipelineConfig,
  onDone: (r: FileResult) => void = () => undefined,
  concurrency = os.availableParallelism(),
): Promise<FileResult[]> {
  configureSharp(1);
  const results: FileResult[] = new Array(files.length);
  const writers = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await processOne(files[i], outDir, config, writers);
      onDone(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, files.length)) }, worker));
  return results;
}

/** `writers`: the input file that wrote each output path, to tell when two inputs share one. */
async function processOne(f: { file: string; relative: string }, outDir: string, config: PipelineConfig,
  writers: Map<string, string>): Promise<FileResult> {
  const started = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
  let input: Buffer;
  try {
    input = fs.readFileSync(f.file);
  } catch (e) {
    return { file: f.file, bytesIn: 0, outputs: [], ms: ms(), error: { reason: 'unreadable', message: (e as Error).message } };
  }
  // The file's path under the folder is its key under the input prefix.
  const layout = { ...config, inputPrefix: '' };
  const variants = variantsFor(layout, f.relative);
  if (variants === undefined) return { file: f.file, bytesIn: input.length, outputs: [], ms: ms(), skipped: noRuleReason(layout) };
  try {
    const result = await transformImage(input, variants === config.variants ? config : { ...config, variants });
    const outputs: FileResult['outputs'] = [];
    const collisions: { path: string; otherFile: string }[] = [];
    for (const o of result.outputs) {
      const v = variants.find((x) => x.name === o.variant)!;
      const key = variantKey(layout, f.relative, v, o.extension);
      const out = path.join(outDir, ...key.split('/'));
      const headers = outputHeaders(v, undefined);
      const extra = { ...(o.note ? { note: o.note } : {}), ...(Object.keys(headers).length ? { headers } : {}) };
      if (o.note?.guard === 'skipped') {
        outputs.push({ path: out, bytes: 0, width: o.width, height: o.height, channels: o.channels, ...extra });
        continue;
      }
      const other = writers.get(out);
      if (other !== undefined && other !== f.file) collisions.push({ path: out, otherFile: other });
      writers.set(out, f.file);
      try {
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, o.body);
      } catch (e) {
        return { file: f.file, bytesIn: input.length, outputs, ms: ms(), error: { reason: 'unwritable', message: (e as Error).message } };
      }
      outputs.push({ path: out, bytes: o.body.length, width: o.width, height: o.height, channels: o.channels, ...extra });
    }
    return { file: f.file, bytesIn: input.length, outputs, ms: ms(), ...(collisions.length ? { collisions } : {}) };
  } catch (e) {
    if (e instanceof ImageRejectedError) {
      return { file: f.file, bytesIn: input.length, outputs: [], ms: ms(), error: { reason: e.reason, message: e.message } };
    }
    throw e;
  }
}
