/**
 * Tests that need a client a machine with Node and npm alone lacks (Debian's AWS CLI, a browser).
 * Where the client is installed the test runs. Where it is not: in CI (which installs it) the test
 * fails, naming what is missing; elsewhere it is reported as skipped and a line says plainly that
 * it did not run and how to run it.
 */
import * as fs from 'fs';

export interface Client {
  /** What the client is, for the messages. */
  readonly name: string;
  /** The executable the test runs. */
  readonly path: string;
  /** How to install it. */
  readonly install: string;
}

export const AWS_CLI: Client = { name: 'Debian\'s AWS CLI', path: '/usr/bin/aws', install: 'apt-get install awscli' };

/** How a test that needs `client` runs here: 'run', 'fail' (missing in CI) or 'skip'. */
export function clientMode(client: Client, env: NodeJS.ProcessEnv = process.env): 'run' | 'fail' | 'skip' {
  if (fs.existsSync(client.path)) return 'run';
  return env.CI === 'true' || env.CI === '1' ? 'fail' : 'skip';
}

/** Declares a jest test that needs `client`; see the module comment for what happens where it is missing. */
export function testWithClient(client: Client, name: string, fn: () => Promise<void>, timeout?: number): void {
  const mode = clientMode(client);
  if (mode === 'run') {
    test(name, fn, timeout);
  } else if (mode === 'fail') {
    test(name, () => {
      throw new Error(`${client.name} is missing at ${client.path}, and CI must run this test: ${client.install}`);
    });
  } else {
    console.warn(`NOT RUN: "${name}" needs ${client.name} at ${client.path}, which this machine lacks (${client.install} to run it)`);
    test.skip(name, fn);
  }
}
