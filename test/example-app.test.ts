/**
 * The example app synthesizes with the CDK CLI, as a user would run it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';

const ROOT = path.join(__dirname, '..');

test('cdk synth of the example app writes a template with the pipeline, its queue mode and its rule', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'example-'));
  try {
    execFileSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--no-version-reporting', '-o', out,
      '--app', 'npx ts-node --transpile-only -P tsconfig.dev.json test/integ.image-preprocessing-pipeline.ts'],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' } });
    const template = Template.fromJSON(JSON.parse(fs.readFileSync(path.join(out, 'ImagePipelineExample.template.json'), 'utf8')));
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'] });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ 'detail-type': ['ImageProcessed'] }) });
    template.resourceCountIs('AWS::S3::Bucket', 2);
    // the assets cdk would upload: the handler bundle and the arm64 sharp layer
    const assets = JSON.parse(fs.readFileSync(path.join(out, 'ImagePipelineExample.assets.json'), 'utf8')).files;
    expect(Object.values(assets).map((a) => (a as { source: { packaging?: string } }).source.packaging).filter((p) => p === 'zip')).toHaveLength(2);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
