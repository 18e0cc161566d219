/**
 * The local S3 endpoint's semantics, by raw HTTP where a client would normalize what is sent (the
 * request path, headers, aws-chunked bodies) and by the SDK where a client's view matters
 * (signatures). One representative test per area; the breadth is measured with the public
 * ceph/s3-tests suite.
 */
import { execFile } from 'child_process';
import { createHash, createHmac } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
// The SDK's own signer, installed with @aws-sdk/client-s3: presigned URLs as the SDK builds them.
// eslint-disable-next-line import/no-extraneous-dependencies
import { SignatureV4 } from '@smithy/signature-v4';
import { AWS_CLI, testWithClient } from './clients';
import { EventBus } from '../lambda-src/local/aws-api/event-bus';
import { AwsApiServer } from '../lambda-src/local/aws-api/server';
import { checksumOf } from '../lambda-src/local/s3/checksums';
import { S3Server, type S3ServerOptions } from '../lambda-src/local/s3/server';
import { decodeKey, type S3EventRecord } from '../lambda-src/s3-event';

jest.setTimeout(60_000);

/** The SHA-256 (and HMAC) constructor SignatureV4 takes, over node's crypto. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined || typeof secret === 'string' ? secret
      : Buffer.from(ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : new Uint8Array(secret));
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === 'string' ? data
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

let tmp: string;
let server: S3Server;
let port: number;
let events: S3EventRecord[];

async function startServer(options: Partial<S3ServerOptions> = {}): Promise<void> {
  server = new S3Server({ dataDir: path.join(tmp, 'data'), buckets: ['input', 'output'], ...options });
  const endpoint = await server.start();
  port = Number(new URL(endpoint).port);
  events = [];
  server.on('event', (e: { Records: S3EventRecord[] }) => events.push(...e.Records));
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-endpoint-'));
});
afterEach(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
}

/** A request sent as given: the path is not normalized, as node's URL class would. */
function raw(method: string, requestPath: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path: requestPath,
      headers: { ...(bytes && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined ? { 'content-length': bytes.length } : {}), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body: b, text: b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

const put = (p: string, body: string | Buffer, headers: Record<string, string | number> = {}) => raw('PUT', p, headers, body);
const code = (r: Reply) => /<Code>([^<]*)<\/Code>/.exec(r.text)?.[1];
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

describe('keys are taken byte for byte from the request path', () => {
  test('. and .. segments are characters of the key, never a way into another bucket', async () => {
    await startServer();

    expect((await put('/input/cli/../../output/x', 'a')).status).toBe(200);
    expect((await put('/input/../newbkt', 'b')).status).toBe(200);
    expect((await put('/input/..%2F..%2Fevil', 'c')).status).toBe(200);
    expect((await put('/input/./x', 'd')).status).toBe(200);
    expect((await put('/input/a/../b', 'e')).status).toBe(200);

    expect(server.listKeys('input')).toEqual(['../../evil', '../newbkt', './x', 'a/../b', 'cli/../../output/x']);
    expect(server.listKeys('output')).toEqual([]);
    expect((await raw('GET', '/')).text).not.toContain('newbkt');
    expect((await raw('GET', '/input/cli/../../output/x')).text).toBe('a');
    expect(events.map((e) => [e.s3.bucket.name, decodeKey(e.s3.object.key)])).toEqual([
      ['input', 'cli/../../output/x'], ['input', '../newbkt'], ['input', '../../evil'], ['input', './x'], ['input', 'a/../b'],
    ]);
    // Nothing was written outside the data folder's buckets.
    expect(fs.readdirSync(tmp)).toEqual(['data']);
    expect(fs.readdirSync(path.join(tmp, 'data', 'buckets')).sort()).toEqual(['input', 'output']);
  });

  test('a bad percent-encoding answers 400, a key over 1024 bytes 400 KeyTooLongError', async () => {
    await startServer();

    const bad = await put('/input/a%zzb', 'x');
    const long = await put(`/input/${encodeURIComponent('é'.repeat(513))}`, 'x');
    const longest = await put(`/input/${'k'.repeat(1024)}`, 'x');

    expect([bad.status, code(bad)]).toEqual([400, 'InvalidURI']);
    expect([long.status, code(long)]).toEqual([400, 'KeyTooLongError']);
    expect(longest.status).toBe(200);
  });
});

describe('the object store', () => {
  test('a crash between an object\'s bytes and its metadata leaves the old version whole', async () => {
    await startServer();
    await put('/input/k', 'old bytes', { 'x-amz-meta-v': 'old' });
    await server.stop();
    // The write's second rename (the metadata, or the pointer to the new version) fails, as a
    // crash at that point would leave it.
    const nodeFs = jest.requireActual<typeof fs>('fs');
    const real = nodeFs.renameSync;
    let renames = 0;
    const spy = jest.spyOn(nodeFs, 'renameSync').mockImplementation((from, to) => {
      if (++renames === 2) throw new Error('crash');
      real(from, to);
    });
    try {
      await startServer();
      const crashed = await put('/input/k', 'new bytes!', { 'x-amz-meta-v': 'new' });
      expect([crashed.status, renames]).toEqual([500, 2]);
    } finally {
      spy.mockRestore();
    }
    await server.stop();

    await startServer();
    const got = await raw('GET', '/input/k');
    expect([got.text, got.headers['x-amz-meta-v'], got.headers.etag]).toEqual(['old bytes', 'old', `"${md5('old bytes')}"`]);
  });

  test('a GET pinned with If-Match answers that version\'s bytes or 412, under concurrent overwrites', async () => {
    await startServer();
    const versions = ['a', 'b', 'c', 'd'].map((c) => Buffer.alloc(4096, c));
    const etags = versions.map((v) => `"${md5(v)}"`);
    await put('/input/hot', versions[0]);
    let stop = false;
    let mismatches = 0;
    let served = 0;
    const writer = async (n: number) => {
      for (let i = n; !stop; i++) await put('/input/hot', versions[i % versions.length]);
    };
    const reader = async (n: number) => {
      for (let i = n; !stop; i++) {
        const pinned = etags[i % etags.length];
        const got = await raw('GET', '/input/hot', { 'if-match': pinned });
        if (got.status !== 200) continue;
        served++;
        if (`"${md5(got.body)}"` !== pinned || got.headers.etag !== pinned) mismatches++;
      }
    };
    const running = [writer(0), writer(1), writer(2), reader(0), reader(1), reader(2), reader(3)];
    await new Promise((r) => setTimeout(r, 5000));
    stop = true;
    await Promise.all(running);

    expect(served).toBeGreaterThan(100);
    expect(mismatches).toBe(0);
  });
});

describe('S3 semantics', () => {
  test('conditional writes: If-None-Match: * and If-Match answer 412 PreconditionFailed, on PUT and on completion', async () => {
    await startServer();
    const first = await put('/input/k', 'one', { 'if-none-match': '*' });
    const again = await put('/input/k', 'two', { 'if-none-match': '*' });
    const stale = await put('/input/k', 'three', { 'if-match': '"0123456789abcdef0123456789abcdef"' });
    const fresh = await put('/input/k', 'four', { 'if-match': String(first.headers.etag) });
    const created = await raw('POST', '/input/k?uploads');
    const id = /<UploadId>([^<]+)</.exec(created.text)![1];
    const part = await put(`/input/k?partNumber=1&uploadId=${id}`, 'five');
    const complete = await raw('POST', `/input/k?uploadId=${id}`, { 'if-none-match': '*' },
      `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.headers.etag}</ETag></Part></CompleteMultipartUpload>`);

    expect(first.status).toBe(200);
    expect([again.status, code(again)]).toEqual([412, 'PreconditionFailed']);
    expect([stale.status, code(stale)]).toEqual([412, 'PreconditionFailed']);
    expect(fresh.status).toBe(200);
    expect([complete.status, code(complete)]).toEqual([412, 'PreconditionFailed']);
    expect((await raw('GET', '/input/k')).text).toBe('four');
    expect(events).toHaveLength(2);
  });

  test('conditional deletes: If-Match deletes only the version it names, and 404 where there is none', async () => {
    await startServer();
    const first = await put('/output/k', 'one');
    const second = await put('/output/k', 'two');
    const stale = await raw('DELETE', '/output/k', { 'if-match': String(first.headers.etag) });
    expect([stale.status, code(stale)]).toEqual([412, 'PreconditionFailed']);
    expect((await raw('GET', '/output/k')).text).toBe('two');
    const current = await raw('DELETE', '/output/k', { 'if-match': String(second.headers.etag) });
    expect(current.status).toBe(204);
    expect((await raw('GET', '/output/k')).status).toBe(404);
    const gone = await raw('DELETE', '/output/k', { 'if-match': '*' });
    expect([gone.status, code(gone)]).toEqual([404, 'NoSuchKey']);
    // without a condition, a delete of a missing key is 204, as S3 answers
    expect((await raw('DELETE', '/output/k')).status).toBe(204);
  });

  test('multipart: part lists checked, retried completion, unknown uploads, listings, UploadPartCopy and part GETs', async () => {
    await startServer();
    const abortUnknown = await raw('DELETE', '/input/k?uploadId=../../buckets');
    const create = async (key: string) => /<UploadId>([^<]+)</.exec((await raw('POST', `/input/${key}?uploads`)).text)![1];
    const id = await create('big');
    const other = await create('other');
    const listing = await raw('GET', '/input?uploads');
    const big = Buffer.alloc(5 * 1024 * 1024, 'x');
    const p1 = await put(`/input/big?partNumber=1&uploadId=${id}`, big);
    await put('/output/src', 'copied tail');
    const p2 = await put(`/input/big?partNumber=2&uploadId=${id}`, '', { 'x-amz-copy-source': '/output/src', 'x-amz-copy-source-range': 'bytes=7-10' });
    const p2etag = /<ETag>&quot;([0-9a-f]+)&quot;<\/ETag>/.exec(p2.text)?.[1];
    const xmlOf = (parts: [number, string][]) => `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const wrongEtag = await raw('POST', `/input/big?uploadId=${id}`, {}, xmlOf([[1, p1.headers.etag as string], [2, '"ffffffffffffffffffffffffffffffff"']]));
    const wrongOrder = await raw('POST', `/input/big?uploadId=${id}`, {}, xmlOf([[2, p2etag!], [1, p1.headers.etag as string]]));
    const done = await raw('POST', `/input/big?uploadId=${id}`, {}, xmlOf([[1, p1.headers.etag as string], [2, p2etag!]]));
    const retried = await raw('POST', `/input/big?uploadId=${id}`, {}, xmlOf([[1, p1.headers.etag as string], [2, p2etag!]]));
    const part2 = await raw('GET', '/input/big?partNumber=2');
    const part3 = await raw('GET', '/input/big?partNumber=3');
    const afterwards = await raw('GET', '/input?uploads');

    expect([abortUnknown.status, code(abortUnknown)]).toEqual([404, 'NoSuchUpload']);
    expect(listing.text).toContain(`<UploadId>${id}</UploadId>`);
    expect(listing.text).toContain(`<UploadId>${other}</UploadId>`);
    expect(p2etag).toBe(md5('tail'));
    expect([wrongEtag.status, code(wrongEtag)]).toEqual([400, 'InvalidPart']);
    expect([wrongOrder.status, code(wrongOrder)]).toEqual([400, 'InvalidPartOrder']);
    expect(done.status).toBe(200);
    expect(retried.status).toBe(200);
    expect(/<ETag>(.*)<\/ETag>/.exec(retried.text)?.[1]).toEqual(/<ETag>(.*)<\/ETag>/.exec(done.text)?.[1]);
    expect([part2.status, part2.text, part2.headers['x-amz-mp-parts-count']]).toEqual([206, 'tail', '2']);
    expect([part3.status, code(part3)]).toEqual([400, 'InvalidPart']);
    expect(afterwards.text).not.toContain(id);
    expect(events.map((e) => e.eventName)).toEqual(['ObjectCreated:Put', 'ObjectCreated:CompleteMultipartUpload']);
  });

  testWithClient(AWS_CLI, 'the AWS CLI copies a multipart object between buckets (UploadPartCopy) and leaves no upload behind', async () => {
    await startServer();
    const file = path.join(tmp, 'big.bin');
    const data = Buffer.alloc(12 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    fs.writeFileSync(file, data);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'any', AWS_SECRET_ACCESS_KEY: 'thing', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null' };
    const aws = (...args: string[]) => promisify(execFile)(AWS_CLI.path, ['--endpoint-url', `http://127.0.0.1:${port}`, ...args], { env });

    await aws('s3', 'cp', file, 's3://input/big.bin');
    await aws('s3', 'cp', 's3://input/big.bin', 's3://output/copy.bin');
    const uploads = await raw('GET', '/output?uploads');

    expect(server.readObject('output', 'copy.bin').equals(data)).toBe(true);
    expect(uploads.text).not.toContain('<Upload>');
  }, 120_000);

  test('stored headers, response-* overrides and non-ASCII metadata come back as sent', async () => {
    await startServer();
    await put('/input/k', 'x', {
      'cache-control': 'public, max-age=14400',
      'content-encoding': 'gzip',
      'expires': 'Thu, 01 Dec 2044 16:00:00 GMT',
      'content-disposition': 'attachment',
      'x-amz-meta-note': Buffer.from('Hello Worldé', 'utf8').toString('latin1'),
    });

    const head = await raw('HEAD', '/input/k');
    const overridden = await raw('GET', '/input/k?response-content-type=foo%2Fbar&response-cache-control=no-cache');

    expect(head.headers['cache-control']).toBe('public, max-age=14400');
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.headers.expires).toBe('Thu, 01 Dec 2044 16:00:00 GMT');
    expect(head.headers['content-disposition']).toBe('attachment');
    expect(head.headers['x-amz-meta-note']).toBe('Hello Worldé');
    expect([overridden.headers['content-type'], overridden.headers['cache-control']]).toEqual(['foo/bar', 'no-cache']);
  });

  test('Content-MD5 and x-amz-checksum-* are verified and the checksum returned', async () => {
    await startServer();
    const badMd5 = await put('/input/a', 'bar', { 'content-md5': 'rL0Y20xC+Fzt72VPzMSk2A==' });
    const invalidMd5 = await put('/input/a', 'bar', { 'content-md5': 'YWJyYWNhZGFicmE=' });
    const sha = createHash('sha256').update('bar').digest('base64');
    const badSha = await put('/input/a', 'bar', { 'x-amz-checksum-sha256': createHash('sha256').update('baz').digest('base64') });
    const good = await put('/input/a', 'bar', { 'x-amz-checksum-sha256': sha, 'content-md5': createHash('md5').update('bar').digest('base64') });
    const plain = await raw('HEAD', '/input/a');
    const withMode = await raw('HEAD', '/input/a', { 'x-amz-checksum-mode': 'ENABLED' });

    expect([badMd5.status, code(badMd5)]).toEqual([400, 'BadDigest']);
    expect([invalidMd5.status, code(invalidMd5)]).toEqual([400, 'InvalidDigest']);
    expect([badSha.status, code(badSha)]).toEqual([400, 'BadDigest']);
    expect([good.status, good.headers['x-amz-checksum-sha256']]).toEqual([200, sha]);
    expect(plain.headers['x-amz-checksum-sha256']).toBeUndefined();
    expect(withMode.headers['x-amz-checksum-sha256']).toBe(sha);
    expect(events).toHaveLength(1);
  });

  test('the additional checksums give their algorithms\' check values', () => {
    const check = Buffer.from('123456789');
    const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');

    expect(hex(checksumOf('CRC32', check))).toBe('cbf43926');
    expect(hex(checksumOf('CRC32C', check))).toBe('e3069283');
    expect(hex(checksumOf('CRC64NVME', check))).toBe('ae8b14860a799888');
  });

  test('listings: v1 NextMarker, max-keys 0 and invalid', async () => {
    await startServer();
    for (const k of ['a', 'b/1', 'b/2', 'c']) await put(`/input/${k}`, k);

    const page = await raw('GET', '/input?max-keys=2');
    const rolled = await raw('GET', '/input?delimiter=/&max-keys=2');
    const next = await raw('GET', '/input?delimiter=/&marker=b/');
    const zero = await raw('GET', '/input?max-keys=0');
    const invalid = await raw('GET', '/input?max-keys=blah');

    expect(page.text).toContain('<IsTruncated>true</IsTruncated>');
    expect(page.text).toContain('<NextMarker>b/1</NextMarker>');
    expect(rolled.text).toContain('<NextMarker>b/</NextMarker>');
    expect(next.text).not.toContain('<Prefix>b/</Prefix>');
    expect(next.text).toContain('<Key>c</Key>');
    expect(zero.text).toContain('<IsTruncated>false</IsTruncated>');
    expect([invalid.status, code(invalid)]).toEqual([400, 'InvalidArgument']);
  });

  test('request validation: an empty Expect is served, a missing Content-Length is 411, more than 1000 keys in a delete 400', async () => {
    await startServer();
    const expectEmpty = await put('/input/e', 'x', { expect: '' });
    // node's client would add a Content-Length or a chunked encoding: the request as bytes.
    const noLength = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end('PUT /input/n HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (c: Buffer) => text += c.toString());
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    const keys = Array.from({ length: 1001 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join('');
    const tooMany = await raw('POST', '/input?delete', {}, `<Delete>${keys}</Delete>`);

    expect(expectEmpty.status).toBe(200);
    expect(noLength).toMatch(/^HTTP\/1\.1 411 [\s\S]*<Code>MissingContentLength<\/Code>/);
    expect([tooMany.status, code(tooMany)]).toEqual([400, 'MalformedXML']);
  });

  test('aws-chunked bodies are decoded strictly', async () => {
    await startServer();
    const headers = { 'content-encoding': 'aws-chunked', 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' };
    const crc = Buffer.from([0x36, 0x10, 0xa6, 0x86]).toString('base64'); // CRC32 of "hello"
    const good = await put('/input/ok', `5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`, { ...headers, 'x-amz-decoded-content-length': 5, 'x-amz-trailer': 'x-amz-checksum-crc32' });
    const badSize = await put('/input/bad', '5x\r\nhello\r\n0\r\n\r\n', headers);
    const tooLong = await put('/input/bad', '3\r\nhello\r\n0\r\n\r\n', headers);
    const badTrailer = await put('/input/bad', '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n', headers);
    const trailing = await put('/input/bad', '5\r\nhello\r\n0\r\n\r\nmore', headers);

    expect([good.status, (await raw('GET', '/input/ok')).text]).toEqual([200, 'hello']);
    expect(badSize.status).toBe(400);
    expect(tooLong.status).toBe(400);
    expect([badTrailer.status, code(badTrailer)]).toEqual([400, 'BadDigest']);
    expect(trailing.status).toBe(400);
    expect(server.listKeys('input')).toEqual(['ok']);
  });
});

describe('SigV4, with credentials', () => {
  const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
  const client = (secretAccessKey: string, accessKeyId = credentials.accessKeyId) => new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey },
  });

  test('the SDK with the right secret is served; a wrong secret, an unknown key or no signature gets 403', async () => {
    await startServer({ credentials });
    const right = client(credentials.secretAccessKey);
    const wrong = client('not-the-secret');
    const unknown = client(credentials.secretAccessKey, 'AKIDOTHER');
    try {
      await right.send(new PutObjectCommand({ Bucket: 'input', Key: 'signed key é+.jpg', Body: 'content' }));
      const got = await right.send(new GetObjectCommand({ Bucket: 'input', Key: 'signed key é+.jpg' }));
      expect(await got.Body!.transformToString()).toBe('content');
      await expect(wrong.send(new PutObjectCommand({ Bucket: 'input', Key: 'x', Body: 'y' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
      await expect(unknown.send(new GetObjectCommand({ Bucket: 'input', Key: 'signed key é+.jpg' }))).rejects.toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
      const anonymous = await raw('GET', '/input/x');
      expect([anonymous.status, code(anonymous)]).toEqual([403, 'AccessDenied']);
      expect(server.listKeys('input')).toEqual(['signed key é+.jpg']);
    } finally {
      right.destroy();
      wrong.destroy();
      unknown.destroy();
    }
  });

  test('presigned URLs: served until they expire, refused when tampered with or signed with another secret', async () => {
    await startServer({ credentials });
    const signer = (secretAccessKey: string) => new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, uriEscapePath: false, credentials: { ...credentials, secretAccessKey } });
    const presign = async (secret: string, method: string, key: string, expiresIn: number, signingDate = new Date()) => {
      const signed = await signer(secret).presign({
        method,
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        path: `/input/${encodeURIComponent(key)}`,
        query: {},
        // As the SDK's presigner does: S3 presigned URLs sign no payload.
        headers: { 'host': `127.0.0.1:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      }, { expiresIn, signingDate });
      const query = Object.entries(signed.query!).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
      return `${signed.path}?${query}`;
    };

    const upload = await raw('PUT', await presign(credentials.secretAccessKey, 'PUT', 'pre signed.txt', 60), { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, 'hi');
    const download = await raw('GET', await presign(credentials.secretAccessKey, 'GET', 'pre signed.txt', 60));
    const expired = await raw('GET', await presign(credentials.secretAccessKey, 'GET', 'pre signed.txt', 60, new Date(Date.now() - 120_000)));
    const wrong = await raw('GET', await presign('not-the-secret', 'GET', 'pre signed.txt', 60));
    const tampered = await raw('GET', (await presign(credentials.secretAccessKey, 'GET', 'pre signed.txt', 60)).replace('X-Amz-Expires=60', 'X-Amz-Expires=600'));

    expect([upload.status, upload.text]).toEqual([200, '']);
    expect([download.status, download.text]).toEqual([200, 'hi']);
    expect([expired.status, code(expired)]).toEqual([403, 'AccessDenied']);
    expect([wrong.status, code(wrong)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect([tampered.status, code(tampered)]).toEqual([403, 'SignatureDoesNotMatch']);
  });

  test('signed streaming uploads: AWS\'s published example is taken, a chunk altered in transit refused', async () => {
    // The example of "Signature Calculations for the Authorization Header: Transferring Payload in
    // Multiple Chunks" in the Amazon S3 API reference: its keys, time, headers and signatures.
    const example = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
    await startServer({ credentials: example, buckets: ['examplebucket'] });
    const now = jest.spyOn(Date, 'now').mockReturnValue(Date.UTC(2013, 4, 24, 0, 5));
    try {
      const signatures = [
        'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
        '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
        'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
      ];
      const data = Buffer.alloc(66560, 'a');
      const body = (payload: Buffer) => Buffer.concat([
        Buffer.from(`10000;chunk-signature=${signatures[0]}\r\n`), payload.subarray(0, 65536), Buffer.from('\r\n'),
        Buffer.from(`400;chunk-signature=${signatures[1]}\r\n`), payload.subarray(65536), Buffer.from('\r\n'),
        Buffer.from(`0;chunk-signature=${signatures[2]}\r\n\r\n`),
      ]);
      const headers = {
        'host': 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'authorization': 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': 66560,
        'content-length': 66824,
      };
      const altered = Buffer.from(data);
      altered[66000] = 0x62;

      const taken = await raw('PUT', '/examplebucket/chunkObject.txt', headers, body(data));
      const refused = await raw('PUT', '/examplebucket/chunkObject.txt', headers, body(altered));

      expect(taken.status).toBe(200);
      expect([refused.status, code(refused)]).toEqual([403, 'SignatureDoesNotMatch']);
      expect(server.readObject('examplebucket', 'chunkObject.txt').equals(data)).toBe(true);
    } finally {
      now.mockRestore();
    }
  });
});

describe('the local Lambda Invoke API', () => {
  test('refuses function names it does not serve with 404 ResourceNotFoundException', async () => {
    const invoked: string[] = [];
    const api = new AwsApiServer(new EventBus(path.join(tmp, 'events.jsonl')), '127.0.0.1', (name) => invoked.push(name));
    const endpoint = await api.start();
    const call = (name: string) => fetch(`${endpoint}/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, {
      method: 'POST', headers: { 'x-amz-invocation-type': 'Event' }, body: '{}',
    });
    try {
      const unknown = await call('some-other-function');
      const byArn = await call('arn:aws:lambda:us-east-1:123456789012:function:image-pipeline');
      const byName = await call('image-pipeline');
      const alias = await call('image-pipeline:prod');

      expect([unknown.status, unknown.headers.get('x-amzn-errortype')]).toEqual([404, 'ResourceNotFoundException']);
      expect(byArn.status).toBe(202);
      expect(byName.status).toBe(202);
      expect(alias.status).toBe(404);
      expect(invoked).toEqual(['image-pipeline', 'image-pipeline']);
    } finally {
      await api.stop();
    }
  });
});
