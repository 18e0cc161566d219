#!/usr/bin/env node
/**
 * `image-pipeline`: the pipeline on one machine. This entry point only puts the shipped sharp layer
 * on the module path (as Lambda does with /opt/nodejs/node_modules), then loads the commands (./cli).
 */
import { Module } from 'module';
import * as path from 'path';
import { hostLayerPath } from './assets';

const layer = hostLayerPath();
if (layer.path) {
  process.env.NODE_PATH = [layer.path, ...(process.env.NODE_PATH ? process.env.NODE_PATH.split(path.delimiter) : [])].join(path.delimiter);
  (Module as unknown as { _initPaths(): void })._initPaths();
}

// The bundled S3 client warns on every start that its future releases need Node 22: not ours to act on.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (String(warning).startsWith('NodeVersionSupportWarning')) return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { main } = require('./cli/main') as typeof import('./cli/main');
main(process.argv.slice(2), layer.problem).then((code) => {
  process.exitCode = code;
}, (e: Error) => {
  process.stderr.write(`image-pipeline: ${e.message}\n`);
  process.exitCode = 2;
});
