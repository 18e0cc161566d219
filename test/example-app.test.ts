/**
 * The integration test app (test/integ.image-preprocessing-pipeline.ts): it synthesizes with the
 * CDK CLI as a user would run it, and it synthesizes to the committed integ-runner snapshot.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';

const ROOT = path.join(__dirname, '..');
const INTEG_APP = 'test/integ.image-preprocessing-pipeline.ts';
const SNAPSHOT = path.join(ROOT, 'test', 'integ.image-preprocessing-pipeline.ts.snapshot');
const TS_NODE = ['ts-node', '--transpile-only', '-P', 'tsconfig.dev.json'];

function readJson(file: string) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'integ-app-'));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Synthesizes the app into `out` the way integ-runner does for its snapshot: the feature flags it
 * recommends but no target partitions, no path or asset metadata, no version reporting, every
 * stack bundled. The templates are integ-runner's; the metadata files leave out the construction
 * stack traces, which hold this machine's paths.
 */
function synthLikeIntegRunner(out: string): void {
  const flags = readJson(path.join(ROOT, 'node_modules', '@aws-cdk', 'integ-runner', 'lib', 'recommended-feature-flags.json'));
  delete flags['@aws-cdk/core:target-partitions'];
  const context = {
    ...flags,
    'aws:cdk:disable-version-reporting': true,
    'aws:cdk:bundling-stacks': ['**'],
    'aws:cdk:disable-stack-trace': true,
    'aws:cdk:disable-creation-stack-traces': true,
  };
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_OUTDIR: out, CDK_CONTEXT_JSON: JSON.stringify(context) };
  for (const k of ['CDK_DEFAULT_ACCOUNT', 'CDK_DEFAULT_REGION', 'CDK_CONTEXT']) delete env[k];
  execFileSync('npx', [...TS_NODE, INTEG_APP], { cwd: ROOT, stdio: 'pipe', env });
}

/**
 * A template with what changes on every synthesis or with every rebuild of an asset made
 * uniform, as integ-runner compares them: asset hashes are numbered in order of appearance, and
 * the assertions' `salt` (the synthesis time, so that they run on every deployment) is blanked.
 */
function canonical(template: unknown): unknown {
  const hashes = new Map<string, string>();
  const text = JSON.stringify(template, (key, value) => (key === 'salt' ? '<salt>' : value));
  return JSON.parse(text.replace(/[0-9a-f]{64}/g, (h) => {
    if (!hashes.has(h)) hashes.set(h, `Asset${hashes.size + 1}`);
    return hashes.get(h)!;
  }));
}

function templates(dir: string): Record<string, unknown> {
  return Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.template.json'))
    .map((f) => [f, canonical(readJson(path.join(dir, f)))]));
}

test('cdk synth of the app writes the pipeline with its queue mode and rule, and the assertions', () => {
  withTempDir((out) => {
    execFileSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--no-version-reporting', '-o', out,
      '--app', `npx ${TS_NODE.join(' ')} ${INTEG_APP}`],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' } });

    const template = Template.fromJSON(readJson(path.join(out, 'ImagePipelineExample.template.json')));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'] });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ 'detail-type': ['ImageProcessed'] }) });
    template.resourceCountIs('AWS::S3::Bucket', 2);
    // the assets cdk would upload: the handler bundle and the arm64 sharp layer
    const assets = readJson(path.join(out, 'ImagePipelineExample.assets.json')).files;
    expect(Object.values(assets).map((a) => (a as { source: { packaging?: string } }).source.packaging).filter((p) => p === 'zip')).toHaveLength(2);

    // the test case integ-runner runs: the pipeline stack, and the assertions in their own stack
    expect(readJson(path.join(out, 'integ.json')).testCases).toEqual({
      'ImagePipelineInteg/DefaultTest': expect.objectContaining({
        stacks: ['ImagePipelineExample'],
        assertionStack: 'ImagePipelineExampleAssertions',
      }),
    });
    const assertions = Template.fromJSON(readJson(path.join(out, 'ImagePipelineExampleAssertions.template.json')));
    assertions.hasResourceProperties('Custom::DeployAssert@SdkCallLambdainvoke', { service: 'Lambda', api: 'invoke' });
    for (const key of ['derived/grayscale-256/integ/sample.jpg', 'derived/thumb/integ/sample.webp']) {
      assertions.hasResourceProperties('Custom::DeployAssert@SdkCallS3headObject', {
        service: 'S3', api: 'headObject', parameters: Match.objectLike({ Key: JSON.stringify(key) }),
      });
    }
    assertions.hasResourceProperties('Custom::DeployAssert@SdkCallSQSreceiveMessage', {
      service: 'SQS', api: 'receiveMessage', expected: Match.stringLikeRegexp('ImageProcessed'),
    });
    // each wait is a state machine that retries the call until its expectation holds
    assertions.resourceCountIs('AWS::StepFunctions::StateMachine', 3);
  });
}, 180_000);

test('the app synthesizes to the committed integ-runner snapshot', () => {
  withTempDir((out) => {
    synthLikeIntegRunner(out);
    if (process.env.UPDATE_INTEG_SNAPSHOT === '1') {
      // `UPDATE_INTEG_SNAPSHOT=1 npx jest test/example-app.test.ts` rewrites it (asset folders left out)
      fs.rmSync(SNAPSHOT, { recursive: true, force: true });
      fs.cpSync(out, SNAPSHOT, { recursive: true, filter: (src) => !path.basename(src).startsWith('asset.') });
    }
    expect(Object.keys(templates(out)).sort()).toEqual(['ImagePipelineExample.template.json', 'ImagePipelineExampleAssertions.template.json']);
    expect(templates(out)).toEqual(templates(SNAPSHOT));
  });
}, 180_000);
