/**
 * The package as a consumer sees it: `npm pack`, install the tarball into fresh CDK apps in
 * temporary folders, one pinned to the oldest aws-cdk-lib the peer dependency accepts and one to
 * the version the library is developed against, instantiate the construct from TypeScript,
 * synthesize, and look at what CloudFormation and the cloud assembly would get.
 *
 * The install is npm's own, with no --force or --legacy-peer-deps: a peer range that excludes one
 * of the versions fails here with ERESOLVE, as it would for a user. Each version's aws-cdk-lib is
 * installed once into node_modules/.cache/consumer-apps and hard-linked into each run's fresh app,
 * so a run costs the tarball's install, not aws-cdk-lib's.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SharpLayer } from '../src';

const ROOT = path.join(__dirname, '..');
const repoPackage = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'consumer-apps');

/** The oldest aws-cdk-lib the peer range accepts (`^2.252.0` gives 2.252.0). */
const CDK_FLOOR = /^\^(\d+\.\d+\.\d+)$/.exec(repoPackage.peerDependencies['aws-cdk-lib'])![1];
/** The aws-cdk-lib the library is developed and tested against. */
const CDK_DEV = repoPackage.devDependencies['aws-cdk-lib'];
const CONSTRUCTS = repoPackage.devDependencies.constructs;

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

/** lib/ is what the package ships: compile it if it is missing or older than src/. */
function ensureCompiled(): void {
  const lib = path.join(ROOT, 'lib', 'index.js');
  const newestSource = listFiles(path.join(ROOT, 'src')).reduce((t, f) => Math.max(t, fs.statSync(f).mtimeMs), 0);
  if (!fs.existsSync(lib) || fs.statSync(lib).mtimeMs < newestSource) {
    run('npx', ['projen', 'compile'], ROOT);
  }
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}

/**
 * A folder with aws-cdk-lib@version and constructs installed by npm, made once and kept.
 * It is built aside and renamed into place, so concurrent runs never see half an install.
 */
function baseInstall(version: string): string {
  const dir = path.join(CACHE, `aws-cdk-lib-${version}-constructs-${CONSTRUCTS}`);
  const installed = path.join(dir, 'node_modules', 'aws-cdk-lib', 'package.json');
  if (fs.existsSync(installed) && JSON.parse(fs.readFileSync(installed, 'utf8')).version === version) return dir;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({
    name: 'consumer-app',
    private: true,
    dependencies: { 'aws-cdk-lib': version, 'constructs': CONSTRUCTS },
  }, null, 2));
  run('npm', ['install', '--prefer-offline', ...NPM_QUIET], tmp);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another run made it first
  }
  return dir;
}

const APP_SOURCE = [
  "import { App, Stack } from 'aws-cdk-lib';",
  "import * as targets from 'aws-cdk-lib/aws-events-targets';",
  "import * as sqs from 'aws-cdk-lib/aws-sqs';",
  "import { ImagePreprocessingPipeline } from 'cdk-image-preprocessing-pipeline';",
  '',
  "const app = new App({ outdir: 'cdk.out' });",
  "const stack = new Stack(app, 'Consumer');",
  "const pipeline = new ImagePreprocessingPipeline(stack, 'Images');",
  'const layerArch: string = pipeline.sharpLayer.architecture.name;',
  "if (layerArch !== 'arm64') throw new Error(layerArch);",
  '// what comes after processing: classify each image from a queue',
  "const classify = new sqs.Queue(stack, 'ToClassify', { enforceSSL: true });",
  "pipeline.onImageProcessed('Classify', { target: new targets.SqsQueue(classify) });",
  'app.synth();',
  '',
].join('\n');

let work: string;
let tarball: string;

beforeAll(() => {
  ensureCompiled();
  fs.mkdirSync(CACHE, { recursive: true });
  // under node_modules, on the cache's file system, so the base installs can be hard-linked
  work = fs.mkdtempSync(path.join(CACHE, 'run-'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], ROOT));
  tarball = path.join(work, packed[0].filename);
}, 600_000);

afterAll(() => {
  if (work && !process.env.KEEP_CONSUMER_APP) fs.rmSync(work, { recursive: true, force: true });
});

test('the peer dependencies accept the oldest aws-cdk-lib tested here, and the development one', () => {
  expect(repoPackage.peerDependencies).toEqual({ 'aws-cdk-lib': `^${CDK_FLOOR}`, 'constructs': `^${CONSTRUCTS}` });
  expect(CDK_DEV).toMatch(/^\d+\.\d+\.\d+$/);
  expect(CDK_FLOOR).not.toBe(CDK_DEV);
});

test('the tarball ships the compiled library, the handler bundle and both layers, not the sources', () => {
  const listing = run('tar', ['-tzf', tarball], work).split('\n');
  expect(listing).toEqual(expect.arrayContaining([
    'package/lib/index.js',
    'package/lib/index.d.ts',
    'package/.jsii',
    'package/assets/lambda-src/process-image.lambda/index.js',
    'package/assets/sharp-layer/arm64/nodejs/node_modules/sharp/package.json',
    'package/assets/sharp-layer/arm64/nodejs/node_modules/sharp/dist/index.cjs',
    'package/assets/sharp-layer/x64/nodejs/node_modules/sharp/dist/index.cjs',
  ]));
  const notShipped = /^package\/(src|lambda-src|test|bench|rosetta|\.ci|\.projen)\//;
  expect(listing.filter((f) => notShipped.test(f))).toEqual([]);
  // what the layer never loads at run time (lambda-src/layer/build.sh)
  const unloaded = /\.d\.[cm]?ts$|\.map$|\.h$|\/sharp\/(src|install|lib)\/|\/semver\/bin\/|package-lock\.json$/;
  expect(listing.filter((f) => f.startsWith('package/assets/sharp-layer/') && unloaded.test(f))).toEqual([]);
});

test(`src/ type-checks against aws-cdk-lib ${CDK_FLOOR}, the peer dependency's floor`, () => {
  // The synthesis below covers the default pipeline; this covers every API src/ calls.
  const base = baseInstall(CDK_FLOOR);
  const modules = path.join(base, 'node_modules');
  const tsconfig = path.join(work, 'tsconfig.floor.json');
  fs.writeFileSync(tsconfig, JSON.stringify({
    extends: path.join(ROOT, 'tsconfig.json'),
    compilerOptions: {
      noEmit: true,
      rootDir: path.join(ROOT, 'src'),
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      baseUrl: work,
      paths: {
        'aws-cdk-lib': [path.join(modules, 'aws-cdk-lib')],
        'aws-cdk-lib/*': [path.join(modules, 'aws-cdk-lib', '*')],
        'constructs': [path.join(modules, 'constructs')],
      },
    },
    include: [path.join(ROOT, 'src', '**', '*.ts')],
  }));
  run(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', tsconfig], work);
}, 600_000);

describe.each([
  ['the oldest aws-cdk-lib of the peer range', CDK_FLOOR],
  ['the aws-cdk-lib it is developed against', CDK_DEV],
])('the packed library in a fresh CDK app on %s (%s)', (_label, cdkVersion) => {
  let template: Template;
  let assembly: string;

  beforeAll(() => {
    const base = baseInstall(cdkVersion);
    const app = fs.mkdtempSync(path.join(work, `app-${cdkVersion}-`));
    // aws-cdk-lib and constructs as npm left them, hard-linked; then npm adds the tarball
    run('cp', ['-al', path.join(base, 'node_modules'), path.join(app, 'node_modules')], app);
    fs.rmSync(path.join(app, 'node_modules', '.package-lock.json'), { force: true });
    fs.copyFileSync(path.join(base, 'package-lock.json'), path.join(app, 'package-lock.json'));
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
      name: 'consumer-app',
      private: true,
      dependencies: {
        'aws-cdk-lib': cdkVersion,
        'constructs': CONSTRUCTS,
        'cdk-image-preprocessing-pipeline': `file:${tarball}`,
      },
    }, null, 2));
    run('npm', ['install', '--prefer-offline', ...NPM_QUIET], app);
    const installed = (name: string) => JSON.parse(fs.readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8')).version;
    expect(installed('aws-cdk-lib')).toBe(cdkVersion);
    expect(installed('cdk-image-preprocessing-pipeline')).toBe(repoPackage.version);

    fs.writeFileSync(path.join(app, 'app.ts'), APP_SOURCE);
    // Type-check and compile the app against the package's published .d.ts files.
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, skipLibCheck: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', types: [] },
      files: ['app.ts'],
    }));
    run(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
    run('node', ['app.js'], app);
    assembly = path.join(app, 'cdk.out');
    template = Template.fromJSON(JSON.parse(fs.readFileSync(path.join(assembly, 'Consumer.template.json'), 'utf8')));
  }, 600_000);

  /** The cloud-assembly folder of a directory asset, from its S3 key `<hash>.zip`. */
  function assetDir(s3Key: string): string {
    const hash = /^([a-f0-9]{64})\.zip$/.exec(s3Key)![1];
    // CDK keeps a source folder's extension in the staged name (`asset.<hash>.lambda`)
    const staged = fs.readdirSync(assembly).filter((f) => f === `asset.${hash}` || f.startsWith(`asset.${hash}.`));
    expect(staged).toHaveLength(1);
    return path.join(assembly, staged[0]);
  }

  test('synthesizes the processor on nodejs24.x arm64 with the sharp layer', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Layers: [{ Ref: Match.stringLikeRegexp('SharpLayer') }],
    });
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    template.resourceCountIs('AWS::SQS::Queue', 2);
  });

  test('synthesizes the template in the snapshot', () => {
    expect(template.toJSON()).toMatchSnapshot();
  });

  test('an EventBridge rule takes the pipeline\'s ImageProcessed events to the consumer\'s queue', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    const target = Object.keys(queues).find((id) => id.startsWith('ToClassify'))!;
    const fn = Object.keys(template.findResources('AWS::Lambda::Function')).find((id) => id.startsWith('ImagesProcessor'))!;
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['image-preprocessing-pipeline'], 'detail-type': ['ImageProcessed'], 'detail': { pipeline: [{ Ref: fn }] } },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [target, 'Arn'] } })],
    });
  });

  test('the layer asset holds the sharp binaries for arm64 only, and hashes as in the repo', () => {
    const layer = Object.values(template.findResources('AWS::Lambda::LayerVersion'))[0];
    const dir = assetDir(layer.Properties.Content.S3Key);
    const modules = path.join(dir, 'nodejs', 'node_modules');
    expect(fs.readdirSync(path.join(modules, '@img')).sort()).toEqual(['colour', 'sharp-libvips-linux-arm64', 'sharp-linux-arm64']);
    expect(fs.readdirSync(path.join(modules, '@img', 'sharp-linux-arm64', 'lib'))).toContain(`sharp-linux-arm64-${SharpLayer.SHARP_VERSION}.node`);
    const libvips = fs.readdirSync(path.join(modules, '@img', 'sharp-libvips-linux-arm64', 'lib'));
    expect(libvips.some((f) => /^libvips-cpp\.so/.test(f))).toBe(true);
    // An ELF binary built for aarch64 (e_machine 0xB7 at offset 18).
    const node = fs.readFileSync(path.join(modules, '@img', 'sharp-linux-arm64', 'lib', `sharp-linux-arm64-${SharpLayer.SHARP_VERSION}.node`));
    expect(node.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(node.readUInt16LE(18)).toBe(0xb7);

    // The same layer synthesized from this repository's sources has the same asset hash.
    const app = new App();
    const stack = new Stack(app, 'Repo');
    new SharpLayer(stack, 'Layer');
    const repoLayer = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion'))[0];
    expect(layer.Properties.Content.S3Key).toBe(repoLayer.Properties.Content.S3Key);
  });

  test('the handler asset is the bundled handler, with sharp left to the layer', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))
      .find((r) => r.Properties.Handler === 'index.handler' && r.Properties.Runtime === 'nodejs24.x')!;
    const bundle = fs.readFileSync(path.join(assetDir(fn.Properties.Code.S3Key), 'index.js'), 'utf8');
    expect(bundle).toMatch(/require\("sharp"\)/);
    expect(bundle).toContain('GetObjectCommand');
  });
});
