/**
 * The `image-pipeline` command as a user runs it (the bundled CLI, spawned): help and version,
 * refused arguments with a message that says why, serve's console and log file, and its
 * addresses and credentials.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { CLI, s3Client, startServe, type Served } from './serve-process';

const run = promisify(execFile);
jest.setTimeout(60_000);

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI to its end: exit code, stdout, stderr. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [CLI, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function stopped(served: Served): Promise<void> {
  served.child.kill('SIGINT');
  expect((await served.exited).code).toBe(0);
}

const photo = () => sharp({ create: { width: 400, height: 300, channels: 3, background: '#336699' } }).jpeg().toBuffer();

describe('help, version and refused arguments', () => {
  test.each(['serve', 'process', 'demo', 'backfill'])('%s --help prints its usage and exits 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli(command, flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: image-pipeline ${command}`));
      expect(r.stderr).toBe('');
    }
  });

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    const r = await cli('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  test('process: two inputs that make one output are named, not silently overwritten', async () => {
    const dir = path.join(tmp, 'in');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.jpg'), await photo());
    fs.writeFileSync(path.join(dir, 'a.png'), await sharp(await photo()).png().toBuffer());
    fs.writeFileSync(path.join(dir, 'b.jpg'), await photo());
    const r = await cli('process', dir, '--out', path.join(tmp, 'out'));
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('collision: '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/a\.(jpg|png) and .*a\.(jpg|png) both make grayscale-256\/a\.jpg/);
    expect(r.stdout).toMatch(/3 files, 3 processed, 0 failed, 1 collision;/);
  });

  test('process without --out says it is required', async () => {
    const r = await cli('process', 'a.jpg');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^image-pipeline process: --out DIR is required/);
    expect(r.stderr).toContain("see 'image-pipeline process --help'");
  });

  test.each([
    [['--port', 'abc'], '--port must be a whole number from 0 to 65535, not "abc"'],
    [['--port', '70000'], '--port must be a whole number from 0 to 65535, not "70000"'],
    [['--port=-1'], '--port must be a whole number from 0 to 65535, not "-1"'],
    [['--memory', '64'], '--memory must be a whole number from 128 to 10240, not "64"'],
    [['--concurrency', 'two'], '--concurrency must be a whole number'],
    [['--nonsense'], "Unknown option '--nonsense'"],
    [['--access-key', 'AK'], '--access-key and --secret-key go together'],
  ])('serve %j is refused: %s', async (args, message) => {
    const r = await cli('serve', ...args, '--data', path.join(tmp, 'data'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`image-pipeline serve: ${message}`);
    expect(r.stdout).not.toContain('serving');
  });
});

describe('serve', () => {
  test('the console has one human line per upload; the handler\'s JSON log and metric lines go to DIR/handler.log', async () => {
    const dataDir = path.join(tmp, 'data');
    const { served, endpoint } = await startServe(['--data', dataDir]);
    const s3 = s3Client(endpoint);
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'good one.jpg', Body: await photo() }));
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'bad.jpg', Body: Buffer.from('not an image') }));
      await served.waitFor(/^processed good one\.jpg -> grayscale-256\/good one\.jpg \(\d+ ms\)$/m);
      await served.waitFor(/^rejected {2}bad\.jpg: unsupported-format -> _failed\/bad\.jpg\.json \(\d+ ms\)$/m);
    } finally {
      s3.destroy();
      await stopped(served);
    }
    expect(served.stdout).toContain(`handler log:   ${path.join(dataDir, 'handler.log')}`);
    expect(served.stdout.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
    const logged = fs.readFileSync(path.join(dataDir, 'handler.log'), 'utf8').split('\n').filter((l) => l.trim());
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.some((l) => l.includes('good one.jpg'))).toBe(true);
  });

  test('--verbose puts the handler\'s lines on the console too', async () => {
    const dataDir = path.join(tmp, 'data');
    const { served, endpoint } = await startServe(['--data', dataDir, '--verbose']);
    const s3 = s3Client(endpoint);
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'one.jpg', Body: await photo() }));
      await served.waitFor(/^processed one\.jpg/m);
    } finally {
      s3.destroy();
      await stopped(served);
    }
    const json = served.stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(json.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(dataDir, 'handler.log'), 'utf8')).toContain(json[0]);
  });

  test('--memory sets the function\'s memory, shown in the banner', async () => {
    const { served } = await startServe(['--data', path.join(tmp, 'data'), '--memory', '128']);
    await stopped(served);
    expect(served.stdout).toMatch(/function: {6}image-pipeline, 128 MB/);
  });

  test('--host other than loopback needs --allow-remote, and then warns that there is no authentication', async () => {
    const refused = await cli('serve', '--host', '0.0.0.0', '--port', '0', '--data', path.join(tmp, 'data'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--host 0\.0\.0\.0 is not a loopback address.*--allow-remote/s);

    const { served } = await startServe(['--host', '0.0.0.0', '--allow-remote', '--data', path.join(tmp, 'data')]);
    await stopped(served);
    expect(served.stderr).toMatch(/warning: serving on 0\.0\.0\.0 with no authentication/);
  });

  test('--host ::1 serves on IPv6 loopback and processes uploads', async () => {
    const { served, endpoint } = await startServe(['--host', '::1', '--data', path.join(tmp, 'data')]);
    expect(endpoint).toMatch(/^http:\/\/\[::1\]:\d+$/);
    const s3 = s3Client(endpoint);
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'input', Key: 'six.jpg', Body: await photo() }));
      await served.waitFor(/^(processed|rejected|FAILED) +six\.jpg.*$/m);
    } finally {
      s3.destroy();
      await stopped(served);
    }
    expect(served.stdout).toMatch(/^processed six\.jpg -> grayscale-256\/six\.jpg/m);
  });

  test('--access-key and --secret-key: uploads signed with them are processed, others refused', async () => {
    const credentials = { accessKeyId: 'LOCALKEY', secretAccessKey: 'local-secret' };
    const { served, endpoint } = await startServe(['--data', path.join(tmp, 'data'),
      '--access-key', credentials.accessKeyId, '--secret-key', credentials.secretAccessKey]);
    const signed = s3Client(endpoint, credentials);
    const other = s3Client(endpoint, { accessKeyId: 'LOCALKEY', secretAccessKey: 'wrong' });
    try {
      await expect(other.send(new PutObjectCommand({ Bucket: 'input', Key: 'refused.jpg', Body: await photo() })))
        .rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      await signed.send(new PutObjectCommand({ Bucket: 'input', Key: 'signed.jpg', Body: await photo() }));
      // the handler reads and writes with the same credentials
      await served.waitFor(/^(processed|rejected|FAILED) +signed\.jpg.*$/m);
    } finally {
      signed.destroy();
      other.destroy();
      await stopped(served);
    }
    expect(served.stdout).toMatch(/^processed signed\.jpg -> grayscale-256\/signed\.jpg/m);
    expect(served.stdout).not.toContain('refused.jpg');
  });
});
