/**
 * SharpLayer on its own, and the asset folders it ships.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ImagePreprocessingPipeline, SharpLayer } from '../src';

const ROOT = path.join(__dirname, '..');
const layerDir = (arch: string) => path.join(ROOT, 'assets', 'sharp-layer', arch, 'nodejs', 'node_modules');

function layerTemplate(architecture?: lambda.Architecture) {
  const stack = new Stack(new App(), 'Test');
  new SharpLayer(stack, 'Sharp', { architecture });
  return Template.fromStack(stack);
}

function layerAssetKey(architecture?: lambda.Architecture): string {
  const layer = Object.values(layerTemplate(architecture).findResources('AWS::Lambda::LayerVersion'))[0];
  return layer.Properties.Content.S3Key;
}

/** `<sha256>.zip` S3 keys of the assets a clean `npm ci && npx projen test` builds. */
const PINNED_ASSET_HASHES = {
  arm64: '082a2f9071c28d424b94898c394b0e334088842f04b1308b5f8b2b9b13416dbc.zip',
  x64: '213f398e5fffff799b3a3f2e70033e0f384b56582ac4bd4c60fba364a71f6aea.zip',
  handler: '917b3b0f8b47b3a17abe49e9c3c316c024f25aab53eb0e8d13d747e6b91f9e09.zip',
};

function handlerAssetKey(): string {
  const stack = new Stack(new App(), 'Test');
  const pipeline = new ImagePreprocessingPipeline(stack, 'Images');
  const code = stack.resolve((pipeline.processor.node.defaultChild as lambda.CfnFunction).code);
  return code.s3Key;
}

describe('SharpLayer', () => {
  test.each([
    [undefined, 'arm64', 'arm64'],
    [lambda.Architecture.ARM_64, 'arm64', 'arm64'],
    [lambda.Architecture.X86_64, 'x86_64', 'x64'],
  ])('for %s holds %s binaries and says so', (architecture, cfnArch, folder) => {
    layerTemplate(architecture).hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleArchitectures: [cfnArch],
      CompatibleRuntimes: ['nodejs22.x', 'nodejs24.x'],
      Description: `sharp ${SharpLayer.SHARP_VERSION} (libvips ${SharpLayer.LIBVIPS_VERSION}) linux-${folder} glibc, in nodejs/node_modules`,
      LicenseInfo: Match.stringLikeRegexp('LGPL'),
    });
  });

  test('fails for an architecture it has no binaries for', () => {
    const stack = new Stack(new App(), 'Test');
    expect(() => new SharpLayer(stack, 'Sharp', { architecture: lambda.Architecture.custom('riscv64') }))
      .toThrow(/SharpLayer supports the arm64 and x86_64 architectures, got riscv64/);
  });

  test('has a different asset per architecture, and the same one every time it is synthesized', () => {
    const arm = layerAssetKey(lambda.Architecture.ARM_64);
    expect(layerAssetKey(lambda.Architecture.ARM_64)).toBe(arm);
    expect(layerAssetKey(lambda.Architecture.X86_64)).not.toBe(arm);
  });

  test('asset hashes are pinned: a fresh clone that builds a different layer or bundle fails here', () => {
    // The layer is built from committed lockfiles with no symlinks, and the handler bundle by the
    // locked esbuild from the committed sources, so both hash the same on every machine (and in
    // the packed package, see consumer.test.ts). A change to the lockfiles, the layer build or the
    // handler changes them on purpose: then update PINNED_ASSET_HASHES.
    expect({
      arm64: layerAssetKey(lambda.Architecture.ARM_64),
      x64: layerAssetKey(lambda.Architecture.X86_64),
      handler: handlerAssetKey(),
    }).toEqual(PINNED_ASSET_HASHES);
  });
});

describe.each([['arm64'], ['x64']])('the %s layer folder', (arch) => {
  const other = arch === 'arm64' ? 'x64' : 'arm64';

  test('holds sharp at the pinned version with its native module and libvips for this architecture only', () => {
    const dir = layerDir(arch);
    const sharpPackage = JSON.parse(fs.readFileSync(path.join(dir, 'sharp', 'package.json'), 'utf8'));
    expect(sharpPackage.version).toBe(SharpLayer.SHARP_VERSION);
    expect(fs.existsSync(path.join(dir, '@img', `sharp-linux-${arch}`, 'lib', `sharp-linux-${arch}-${SharpLayer.SHARP_VERSION}.node`))).toBe(true);
    const libvips = fs.readdirSync(path.join(dir, '@img', `sharp-libvips-linux-${arch}`, 'lib'));
    expect(libvips).toContain(`libvips-cpp.so.${SharpLayer.LIBVIPS_VERSION}`);
    expect(fs.readdirSync(path.join(dir, '@img')).filter((d) => d.includes(other))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'sharp', 'dist', 'index.cjs'))).toBe(true);
  });

  test('has no symlinks (they would change the asset hash between machines)', () => {
    const links: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const full = path.join(d, e.name);
        if (e.isSymbolicLink()) links.push(full);
        else if (e.isDirectory()) walk(full);
      }
    };
    walk(path.join(ROOT, 'assets', 'sharp-layer', arch));
    expect(links).toEqual([]);
  });

  test('pins the same sharp as the constant, the lockfile and the development dependency', () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, 'lambda-src', 'layer', arch, 'package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'lambda-src', 'layer', arch, 'package-lock.json'), 'utf8'));
    const dev = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8'));
    expect([pinned.dependencies.sharp, lock.packages['node_modules/sharp'].version, dev.version])
      .toEqual([SharpLayer.SHARP_VERSION, SharpLayer.SHARP_VERSION, SharpLayer.SHARP_VERSION]);
  });
});

test('the libvips version in the constant is the one the host sharp reports', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const versions = require('sharp').versions as { vips: string };
  expect(versions.vips).toBe(SharpLayer.LIBVIPS_VERSION);
});
