/**
 * `image-pipeline process` with `"manifest": true`: the manifest of each file processed, written as
 * the pipeline writes it, to `<out>/_manifests/<relative path>.json`, from the input file and the
 * output files on disk.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { FileResult } from './process-files';
import { MANIFEST_FOLDER, OUTPUT_EXTENSIONS, type PipelineConfig } from '../../../src/contract';
import { buildManifest, fingerprint } from '../../manifest';
import { variantsFor } from '../../output-keys';

/** sharp's name of a format, as the handler names it (sharp calls AVIF "heif"). */
const INPUT_FORMAT: Record<string, string> = { jpg: 'jpeg', heif: 'avif' };

const FORMAT_OF_EXTENSION: Record<string, string> = Object.fromEntries(Object.entries(OUTPUT_EXTENSIONS).map(([format, ext]) => [ext, format]));

/** Writes the manifest of every file processed; returns their paths. */
export async function writeManifests(files: { file: string; relative: string }[], results: FileResult[], outDir: string,
  config: PipelineConfig): Promise<string[]> {
  const written: string[] = [];
  for (let i = 0; i < files.length; i++) {
    const r = results[i];
    if (r.error || r.skipped) continue;
    const input = fs.readFileSync(files[i].file);
    const meta = await sharp(input, { pages: 1 }).metadata();
    const turned = (meta.orientation ?? 1) >= 5;
    // the outputs are in the order of the file's variants, as the transform makes them
    const variants = variantsFor({ ...config, inputPrefix: '' }, files[i].relative) ?? [];
    const kept = r.outputs.map((o, j) => ({ ...o, variant: variants[j]?.name })).filter((o) => o.note?.guard !== 'skipped');
    const manifest = buildManifest({
      bucket: 'local',
      key: files[i].relative,
      size: input.length,
      input: {
        format: INPUT_FORMAT[String(meta.format)] ?? String(meta.format),
        width: (turned ? meta.height : meta.width) ?? 0,
        height: (turned ? meta.width : meta.height) ?? 0,
      },
      outputs: kept.map((o) => ({
        variant: o.variant,
        key: path.relative(outDir, o.path).split(path.sep).join('/'),
        format: FORMAT_OF_EXTENSION[path.extname(o.path).slice(1)] ?? path.extname(o.path).slice(1),
        width: o.width,
        height: o.height,
        bytes: o.bytes,
        ...(o.note ? { note: o.note } : {}),
      })),
      bodies: kept.map((o) => fs.readFileSync(o.path)),
      fingerprint: await fingerprint(input, config.maxInputPixels),
    });
    const file = path.join(outDir, ...`${MANIFEST_FOLDER}${files[i].relative}.json`.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(manifest, null, 2));
    written.push(file);
  }
  return written;
}
