import { awscdk, javascript, release, TaskShell } from 'projen';

const SHARP_VERSION = '0.35.5';

// The oldest aws-cdk-lib the library works with: the peer dependency's floor, the first with
// `Validations.acknowledge` (src/private/nag.ts). Before 2.270.0 that method refuses rule ids
// with more than one '::', as the acknowledged cdk-nag findings have; nag.ts then leaves them to
// the cdk-nag 2 metadata (cdk-nag 3 needs a newer aws-cdk-lib anyway). test/consumer.test.ts
// installs the packed library into apps on this version and on CDK_DEV, and type-checks src/
// against this one.
const CDK_FLOOR = '2.252.0';
// The aws-cdk-lib the library is developed and tested against.
const CDK_DEV = '2.276.0';
const CONSTRUCTS_VERSION = '10.5.1';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-image-preprocessing-pipeline',
  description: 'AWS CDK construct: S3 uploads become clean, resized images (sharp layer, least-privilege IAM, failure queue, alarms), and the same pipeline runs locally with no AWS account.',
  author: 'cdk-image-preprocessing-pipeline contributors',
  authorAddress: 'https://github.com/cdk-image-preprocessing-pipeline/cdk-image-preprocessing-pipeline',
  authorOrganization: true,
  repositoryUrl: 'https://github.com/cdk-image-preprocessing-pipeline/cdk-image-preprocessing-pipeline.git',
  keywords: ['cdk', 'awscdk', 'aws-cdk', 's3', 'lambda', 'sharp', 'image', 'resize', 'thumbnail', 'grayscale'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  // keep the projenrc tsconfig inside projen's own folder, so the top level stays as designed
  projenrcTsOptions: { projenCodeDir: '.projen' },
  // peer dependencies aws-cdk-lib ^CDK_FLOOR and constructs ^CONSTRUCTS_VERSION; projen would also
  // pin them as dev dependencies at the floor: instead develop against CDK_DEV (devDeps below)
  cdkVersion: CDK_FLOOR,
  constructsVersion: CONSTRUCTS_VERSION,
  peerDependencyOptions: { pinnedDevDependency: false },
  jsiiVersion: '~6.0.0',
  // ts-jest and typescript-eslint need a TypeScript with the classic compiler API
  typescriptVersion: '~5.9.0',
  minNodeVersion: '20.9.0',
  tsconfigDevFile: 'tsconfig.dev.json',
  sampleCode: false,
  github: false,
  // Versions and CHANGELOG.md from conventional commits: `npx projen release` bumps, builds,
  // writes the changelog and tags (see README, Releasing). 0.x until the API is declared stable.
  stability: 'experimental',
  majorVersion: 0,
  release: true,
  releaseTrigger: release.ReleaseTrigger.manual({ changelogPath: 'CHANGELOG.md', gitPushCommand: '' }),
  // the first release (no v* tag yet) is 0.1.0; later ones follow the commits since the last tag
  nextVersionCommand: 'node -e "process.stdout.write(process.env.LATEST_TAG ? \'\' : \'0.1.0\')"',
  // Package names for the other jsii languages; building them needs their toolchains (see package-all).
  publishToPypi: { distName: 'cdk-image-preprocessing-pipeline', module: 'cdk_image_preprocessing_pipeline' },
  publishToMaven: {
    javaPackage: 'io.github.cdkimagepreprocessingpipeline',
    mavenGroupId: 'io.github.cdk-image-preprocessing-pipeline',
    mavenArtifactId: 'cdk-image-preprocessing-pipeline',
  },
  publishToNuget: { dotNetNamespace: 'CdkImagePreprocessingPipeline', packageId: 'CdkImagePreprocessingPipeline' },
  publishToGo: { moduleName: 'github.com/cdk-image-preprocessing-pipeline/cdk-image-preprocessing-pipeline-go' },
  devDeps: [
    `aws-cdk-lib@${CDK_DEV}`,
    '@types/aws-lambda',
    '@aws-sdk/client-s3@^3',
    '@aws-sdk/credential-provider-env@^3',
    '@aws-sdk/client-eventbridge@^3',
    '@aws-sdk/client-lambda@^3',
    'aws-cdk@^2',
    `sharp@${SHARP_VERSION}`,
    'cdk-nag@^3',
    'aws-sdk-client-mock@^4',
    // cdk-nag 2 beside cdk-nag 3: the tests check the pipeline under both lines
    'cdk-nag-v2@npm:cdk-nag@^2',
    // the SDK's signer, for presigned URLs in the local endpoint's tests
    '@smithy/signature-v4',
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    // the integ snapshot test synthesizes as integ-runner does, with its recommended feature flags
    '@aws-cdk/integ-runner@^2',
    // bundled into the upload API's function and the local mode: presigned uploads and downloads
    '@aws-sdk/s3-request-presigner@^3',
    '@aws-sdk/s3-presigned-post@^3',
    // bundled into the handler: labels, and S3 Batch Operations jobs from the CLI
    '@aws-sdk/client-rekognition@^3',
    '@aws-sdk/client-s3-control@^3',
    // bundled into the handler: the manifest's placeholder and perceptual hash
    'thumbhash',
    'blurhash',
    'sharp-phash',
    // the web page's browser test drives Debian's chromium
    'puppeteer-core',
  ],
  // one dev tsconfig (tsconfig.dev.json) covers src, lambda-src, test and .projenrc.ts
  eslintOptions: { dirs: ['src'], projectService: false, tsconfigPath: './tsconfig.dev.json' },
  jestOptions: {
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      // image encodes on a 2-core machine under load take longer than jest's default 5 s
      testTimeout: 30_000,
    },
  },
  gitignore: ['cdk.out', '/assets/', '/.layer-cache/', 'test/**/*.snapshot/**/asset.*', '/image-pipeline-demo/', '/.image-pipeline/'],
});

// projen's CDK setup drops a `constructs` dev dependency given in the options: add it afterwards
project.addDevDeps(`constructs@${CONSTRUCTS_VERSION}`);

// `LambdaFunction` passes these on to the bundler, which also understands `minify`, `mainFields`
// and `esbuildArgs`. The SDK's ES modules let esbuild drop the S3 commands the handler never sends,
// and Lambda's credentials are in the environment, so the default provider chain is replaced by
// that one source: both cut the cold start.
const handlerBundling: javascript.BundlingOptions = {
  externals: ['sharp'],
  sourcemap: false,
  ...{
    minify: true,
    mainFields: ['module', 'main'],
    esbuildArgs: { '--alias:@aws-sdk/credential-provider-node': './lambda-src/lambda-credentials.ts' },
  },
};

// The handler bundle: sharp comes from the layer, the S3 client is bundled (pinned, faster cold start).
new awscdk.LambdaFunction(project, {
  entrypoint: 'lambda-src/process-image.lambda.ts',
  constructFile: 'src/private/process-image-function.ts',
  constructName: 'ProcessImageFunction',
  cdkDeps: project.cdkDeps,
  // no fixed runtime: the generated construct takes one, and the pipeline passes Runtime.NODEJS_24_X
  awsSdkConnectionReuse: false,
  bundlingOptions: handlerBundling,
});

// The upload API's functions (presigned uploads, upload states): everything bundled, no layer.
new awscdk.LambdaFunction(project, {
  entrypoint: 'lambda-src/api/upload-api.lambda.ts',
  constructFile: 'src/private/upload-api-function.ts',
  constructName: 'UploadApiFunction',
  cdkDeps: project.cdkDeps,
  awsSdkConnectionReuse: false,
  bundlingOptions: { ...handlerBundling, externals: [] },
});

// The sharp layer: npm's cross-platform install, one folder per architecture, built before compile.
const layerTask = project.addTask('build:sharp-layer', {
  description: `Assemble the sharp ${SHARP_VERSION} Lambda layer for linux arm64 and x64 into assets/sharp-layer`,
  exec: 'bash lambda-src/layer/build.sh',
  shell: TaskShell.system(),
});
project.preCompileTask.spawn(layerTask);

// Tests synthesize stacks that reference the bundle and the layer: make them first.
const bundleTask = project.tasks.tryFind('bundle');
if (bundleTask) {
  project.testTask.prependSpawn(layerTask);
  project.testTask.prependSpawn(bundleTask);
}

// The local mode: the `image-pipeline` CLI and the process that plays one Lambda execution
// environment. The S3 client and everything else is bundled; sharp comes from the layer.
project.bundler.addBundle('lambda-src/local/cli.ts', {
  platform: 'node',
  target: 'node20',
  externals: ['sharp'],
  executable: true,
  sourcemap: false,
  watchTask: false,
});
project.bundler.addBundle('lambda-src/local/lambda-worker.ts', {
  platform: 'node',
  target: 'node20',
  sourcemap: false,
  watchTask: false,
});
project.addBins({ 'image-pipeline': 'assets/lambda-src/local/cli/index.js' });
// The local mode's web page: plain HTML, CSS and JavaScript, copied as they are.
project.tasks.tryFind('bundle')?.exec(
  'node -e "require(\'fs\').cpSync(\'lambda-src/local/web\', \'assets/web-page\', { recursive: true })"');
// Screenshots of the browser test.
project.gitignore.exclude('/test-artifacts/');
project.addPackageIgnore('/test-artifacts/');
// the README's screenshot: npm's page shows it from the repository
project.addPackageIgnore('/docs/');
project.addTask('demo', {
  description: 'Run the whole pipeline on this machine: upload sample images to the embedded S3 endpoint and report',
  steps: [
    { spawn: 'bundle' },
    { spawn: layerTask.name },
    { exec: 'node assets/lambda-src/local/cli/index.js demo', receiveArgs: true },
  ],
});

project.tsconfigDev.addInclude('lambda-src/**/*.ts');
project.tsconfigDev.addInclude('.projenrc.ts');
project.eslint?.addLintPattern('lambda-src');
project.eslint?.allowDevDeps('lambda-src/**');
project.eslint?.addLintPattern('bench');
project.eslint?.allowDevDeps('bench/**');

project.addPackageIgnore('/lambda-src/');
project.addPackageIgnore('/.layer-cache/');
project.addPackageIgnore('cdk.out');
project.addPackageIgnore('/assets/sharp-layer/.*.stamp');
// projen ignores every `dist` folder; sharp's own dist/ is code the layer needs
project.addPackageIgnore('!/assets/**/dist/');

// Benchmarks against the original system's transform: bench/RESULTS.md, bench/latency.svg and
// bench/COST.md. The entry is TypeScript, type-checked as ts-node loads it.
project.addTask('bench', {
  description: 'Benchmarks: CPU, memory and quality against the original Pillow transform, cold init, 128 MB, handler cost, local-mode bursts, cost model',
  steps: [
    { spawn: 'bundle' },
    { spawn: layerTask.name },
    { exec: 'ts-node --project tsconfig.dev.json bench/run.ts', receiveArgs: true },
  ],
});
project.addPackageIgnore('/bench/');
project.addPackageIgnore('/.ci/');
project.gitignore.exclude('/bench/.cache/');

// The examples in README.md and the API docs must compile against the package.
const rosetta = project.addTask('rosetta:extract', {
  description: 'Compile the examples in README.md and the API docs (fixtures in rosetta/)',
  exec: 'jsii-rosetta extract --compile --fail',
});
project.postCompileTask.spawn(rosetta);
project.gitignore.exclude('.jsii.tabl.json');
project.addPackageIgnore('/rosetta/');

// `package` builds the npm package; the other languages' packages are built by their own
// `package:<language>` tasks on machines that have Python, Java, .NET and Go.
const packageAll = project.tasks.tryFind('package-all');
if (packageAll) {
  packageAll.reset();
  packageAll.spawn(project.tasks.tryFind('package:js')!);
}

project.synth();
