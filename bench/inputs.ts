/**
 * The inputs: PHOTOS_PER_SIZE JPEGs (quality 90) per size in bench/.cache/inputs, made from real
 * photographs when there are some (Debian's lomiri-wallpapers, or --photos DIR), else generated.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type sharpModule from 'sharp';
import { CACHE, DEFAULT_BACKGROUNDS, PHOTOS_PER_SIZE, SIZES, sizeName, type Options } from './common';

export type Sharp = typeof sharpModule;

interface Photo {
  readonly file: string;
  readonly name: string;
  readonly width: number;
  readonly height: number;
}

interface Plan {
  readonly size: readonly [number, number];
  readonly sources: (Photo & { readonly scale: number })[];
}

export interface InputFile {
  readonly file: string;
  readonly source: string;
  readonly sourceSize: string;
  readonly scale: number;
  readonly bytes: number;
}

export interface InputSet {
  readonly size: readonly [number, number];
  readonly files: InputFile[];
}

export interface Inputs {
  readonly key: string;
  /** Made from photographs (else generated). */
  readonly real: boolean;
  readonly dir: string;
  readonly skipped: string[];
  readonly sets: InputSet[];
  readonly cached: boolean;
}

async function listPhotos(sharp: Sharp, dir: string, explicit: boolean): Promise<{ photos: Photo[]; skipped: string[] }> {
  if (!dir || !fs.existsSync(dir)) return { photos: [], skipped: [] };
  const all = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  // In /usr/share/backgrounds the photographs are the lomiri-wallpapers' "<title>_by_<author>.jpg";
  // the other JPEGs there (ukui-wallpapers) are renders, not photographs.
  const chosen = explicit ? all : all.filter((f) => /_by_/.test(f));
  const skipped = all.filter((f) => !chosen.includes(f));
  const photos: Photo[] = [];
  for (const f of chosen) {
    const file = path.join(dir, f);
    try {
      const m = await sharp(file).metadata();
      const swap = (m.orientation ?? 1) >= 5;
      const width = (swap ? m.height : m.width) ?? 0;
      const height = (swap ? m.width : m.height) ?? 0;
      if (m.format === 'jpeg' && width >= height) photos.push({ file, name: f, width, height });
      else skipped.push(f);
    } catch {
      skipped.push(f);
    }
  }
  return { photos, skipped };
}

/** Picks PHOTOS_PER_SIZE sources per size: downscales for the small sizes, the largest for 24 MP. */
function selectSources(photos: Photo[]): Plan[] {
  const used = new Map(photos.map((p) => [p.name, 0]));
  const plan: Plan[] = [];
  for (const size of SIZES) {
    const [w, h] = size;
    const scaleOf = (p: Photo) => Math.max(w / p.width, h / p.height);
    let pool: Photo[];
    if (w * h >= 20e6) {
      pool = [...photos].sort((a, b) => b.width * b.height - a.width * a.height);
    } else {
      // Sources that need no enlargement, least used first, then by name: different photos per size.
      pool = photos.filter((p) => scaleOf(p) <= 1).sort((a, b) => used.get(a.name)! - used.get(b.name)! || a.name.localeCompare(b.name));
      if (pool.length < PHOTOS_PER_SIZE) pool = [...photos].sort((a, b) => scaleOf(a) - scaleOf(b));
    }
    const picked = pool.slice(0, PHOTOS_PER_SIZE);
    for (const p of picked) used.set(p.name, used.get(p.name)! + 1);
    plan.push({ size, sources: picked.map((p) => ({ ...p, scale: scaleOf(p) })) });
  }
  return plan;
}

function clamp(n: number): number {
  return n < 0 ? 0 : n > 255 ? 255 : Math.round(n);
}

/** A photograph-like generated frame (gradients, edges, texture, grain), deterministic per seed. */
function generated(sharp: Sharp, width: number, height: number, seed: number): sharpModule.Sharp {
  const data = Buffer.alloc(width * height * 3);
  let s = 12345 + seed * 7919;
  const cx = 0.3 + 0.1 * seed;
  for (let y = 0; y < height; y++) {
    const v = y / height;
    for (let x = 0; x < width; x++) {
      s = (s * 48271) % 2147483647;
      const grain = (s % 17) - 8;
      const u = x / width;
      const ring = Math.sin(Math.hypot(u - cx, v - 0.4) * (30 + 8 * seed)) * 40;
      const sky = v < 0.5 + 0.08 * Math.sin(u * (7 + seed));
      const leaf = Math.sin(x * 0.21 + seed) * Math.sin(y * 0.17) * 18;
      const i = (y * width + x) * 3;
      data[i] = clamp((sky ? 90 + 80 * v : 60 + 70 * u + leaf) + ring + grain);
      data[i + 1] = clamp((sky ? 140 + 60 * v : 110 - 40 * v + leaf) + ring / 2 + grain);
      data[i + 2] = clamp((sky ? 220 - 40 * v : 50 + 30 * u) + grain);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Makes (or reuses) the inputs: PHOTOS_PER_SIZE JPEGs (quality 90) per size in bench/.cache/inputs. */
export async function prepareInputs(sharp: Sharp, opts: Options): Promise<Inputs> {
  const dir = opts.photos ?? DEFAULT_BACKGROUNDS;
  const { photos, skipped } = await listPhotos(sharp, dir, opts.photos !== undefined);
  const real = photos.length >= 1;
  const plan: Plan[] = real ? selectSources(photos) : SIZES.map((size) => ({ size, sources: [] }));
  const key = crypto.createHash('sha256').update(JSON.stringify({
    v: 2, sharp: sharp.versions.sharp, plan: plan.map((p) => [p.size, p.sources.map((s) => [s.file, fs.statSync(s.file).size])]),
  })).digest('hex').slice(0, 16);
  const inputsDir = path.join(CACHE, 'inputs');
  const manifestFile = path.join(inputsDir, 'manifest.json');
  if (fs.existsSync(manifestFile)) {
    const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Inputs;
    if (m.key === key && m.sets.every((s) => s.files.every((f) => fs.existsSync(f.file)))) return { ...m, cached: true };
  }
  fs.rmSync(inputsDir, { recursive: true, force: true });
  const sets: InputSet[] = [];
  for (const { size, sources } of plan) {
    const [w, h] = size;
    const sdir = path.join(inputsDir, sizeName(size));
    fs.mkdirSync(sdir, { recursive: true });
    const files: InputFile[] = [];
    for (let i = 0; i < PHOTOS_PER_SIZE; i++) {
      const src = sources[i % Math.max(1, sources.length)];
      const name = real ? `${String(i).padStart(2, '0')}-${src.name.replace(/\.jpe?g$/i, '')}.jpg` : `${String(i).padStart(2, '0')}-generated.jpg`;
      const out = path.join(sdir, name);
      const img = real
        ? sharp(src.file, { autoOrient: true }).resize({ width: w, height: h, fit: 'cover', kernel: 'lanczos3' })
        : generated(sharp, w, h, i);
      await img.jpeg({ quality: 90 }).toFile(out);
      files.push({
        file: out,
        source: real ? src.name : 'generated',
        sourceSize: real ? `${src.width}x${src.height}` : '-',
        scale: real ? src.scale : 1,
        bytes: fs.statSync(out).size,
      });
    }
    sets.push({ size, files });
  }
  const manifest = { key, real, dir, skipped, sets };
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  return { ...manifest, cached: false };
}

/** The 24 MP set. */
export function largeSet(inputs: Inputs): InputSet {
  return inputs.sets.find((s) => s.size[0] * s.size[1] >= 20e6)!;
}

/** The original system's three sizes, cycled: photo i of each size in turn. */
export function originalSizesCycled(inputs: Inputs): string[] {
  const small = inputs.sets.filter((s) => s.size[0] * s.size[1] < 20e6);
  const files: string[] = [];
  for (let i = 0; i < PHOTOS_PER_SIZE; i++) for (const s of small) files.push(s.files[i].file);
  return files;
}
