import * as path from 'path';
import { clientMode, type Client } from './clients';

const present: Client = { name: 'node', path: process.execPath, install: 'none' };
const missing: Client = { name: 'a client', path: path.join(__dirname, 'no-such-client'), install: 'install it' };

test('a test that needs a client runs where the client is, in CI or not', () => {
  expect(clientMode(present, {})).toBe('run');
  expect(clientMode(present, { CI: 'true' })).toBe('run');
});

test('a missing client skips the test on a developer machine and fails it in CI', () => {
  expect(clientMode(missing, {})).toBe('skip');
  expect(clientMode(missing, { CI: 'false' })).toBe('skip');
  expect(clientMode(missing, { CI: 'true' })).toBe('fail');
  expect(clientMode(missing, { CI: '1' })).toBe('fail');
});
