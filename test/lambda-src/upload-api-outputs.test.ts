/**
 * The upload API finds an upload's results where the handler writes them: the variants of the
 * upload's rule, under their key templates, and under the source's extension for a variant whose
 * never-larger guard may keep the source.
 */
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import sharp from 'sharp';
import { UploadApi } from '../../lambda-src/api/upload-api';
import { validatePipelineConfig } from '../../lambda-src/config';
import { keyHash } from '../../lambda-src/ordered-writes';
import { SOURCE_METADATA } from '../../src/contract';

const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const INPUT_KEY = `incoming/uploads/${ID}.jpg`;
const s3 = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
const mock = mockClient(s3);

function api(doc: Record<string, unknown>): UploadApi {
  const pipeline = validatePipelineConfig({ inputBucket: 'in', outputBucket: 'out', inputPrefix: 'incoming/', outputPrefix: 'derived/', ...doc });
  return new UploadApi({ s3, pipeline, api: { maxUploadBytes: 1000, uploadUrlExpirySeconds: 300, downloadUrlExpirySeconds: 900 }, newId: () => ID });
}

/** An output object from this upload, as a ranged GET returns it. */
async function output(format: 'webp' | 'jpeg') {
  const bytes = await sharp({ create: { width: 100, height: 50, channels: 3, background: '#345' } }).toFormat(format).toBuffer();
  const b = Buffer.from(bytes);
  return {
    Body: { transformToByteArray: async () => new Uint8Array(b), transformToString: async () => b.toString('utf8') },
    ContentType: `image/${format}`,
    ContentLength: b.length,
    ContentRange: `bytes 0-${b.length - 1}/${b.length}`,
    LastModified: new Date(),
    Metadata: { [SOURCE_METADATA.keyHash]: keyHash(INPUT_KEY), [SOURCE_METADATA.sequencer]: '01', [SOURCE_METADATA.eTag]: 'abc' },
  } as never;
}

async function state(a: UploadApi) {
  return JSON.parse((await a.handle('GET', `/uploads/${ID}.jpg`, undefined)).body);
}

beforeEach(() => {
  mock.reset();
  mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));
});

test('with rules: the variants of the upload\'s rule, under their key templates', async () => {
  const rules = [
    { prefix: 'avatars/', variants: [{ name: 'a', width: 64 }] },
    { prefix: 'uploads/', variants: [{ name: 'card', width: 100, height: 50, format: 'webp', key: '{dir}/{name}_{width}.{ext}' }] },
  ];
  mock.on(GetObjectCommand, { Key: `derived/uploads/${ID}_100.webp` }).resolves(await output('webp'));
  const s = await state(api({ rules }));
  expect(s.status).toBe('processed');
  expect(s.outputs.map((o: { variant: string; key: string }) => [o.variant, o.key])).toEqual([['card', `derived/uploads/${ID}_100.webp`]]);
});

test('a variant whose never-larger guard may keep the source: its output is found under the source\'s extension', async () => {
  const variants = [{ name: 'big', width: 100, height: 50, format: 'webp', whenLarger: 'keep-source' }];
  mock.on(GetObjectCommand, { Key: `derived/big/uploads/${ID}.jpg` }).resolves(await output('jpeg'));
  const s = await state(api({ variants }));
  expect(s.status).toBe('processed');
  expect(s.outputs[0]).toMatchObject({ key: `derived/big/uploads/${ID}.jpg`, format: 'jpeg' });
});
