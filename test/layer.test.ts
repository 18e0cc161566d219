/**
 * SharpLayer on its own, and the asset folders it ships.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SharpLayer } from '../src';

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

  test('asset hashes are pinned: a fresh clone that builds a different layer fails here', () => {
    // The layer is built from committed lockfiles with no symlinks, so its content hash is the
    // same on every machine; a change to the lockfiles or the build changes it on purpose.
    expect({
      arm64: layerAssetKey(lambda.Architecture.ARM_64),
      x64: layerAssetKey(lambda.Architecture.X86_64),
    }).toMatchSnapshot();
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
