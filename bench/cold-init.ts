/**
 * Cold init: `require()` of the handler bundle against `import boto3; from PIL import Image` (and
 * with `boto3.client("s3")`), in fresh processes, interleaved.
 */
import * as path from 'path';
import { PYTHON, nodeEnv, pythonEnv, rotate, run, type MachineInfo, type Options } from './common';

export type ColdKind = 'node' | 'python-import' | 'python-import+client';

export interface ColdInit {
  /** Per kind: init ms inside the process, and spawn-to-exit ms seen by the parent. */
  readonly runs: Partial<Record<ColdKind, { init: number[]; process: number[] }>>;
  /** The sharp the handler loaded. */
  readonly sharpPath?: string;
}

export function measureCold(taskDir: string, opts: Options, env: MachineInfo): ColdInit {
  const handler = path.join(taskDir, 'index.js');
  const nodeScript = [
    'const t = process.hrtime.bigint();',
    `require(${JSON.stringify(handler)});`,
    'const ms = Number(process.hrtime.bigint() - t) / 1e6;',
    'const sharp = Object.keys(require.cache).find((k) => /[\\\\/]sharp[\\\\/]/.test(k));',
    'process.stdout.write(JSON.stringify({ ms, sharp }));',
  ].join(' ');
  const pyImport = 'import time, json; t = time.perf_counter(); import boto3; from PIL import Image; print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))';
  const pyClient = 'import time, json; t = time.perf_counter(); import boto3; from PIL import Image; s3 = boto3.client("s3"); print(json.dumps({"ms": (time.perf_counter() - t) * 1000}))';
  const lambdaEnv = { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench' };
  const kinds: [ColdKind, string, string[], NodeJS.ProcessEnv][] = [
    ['node', process.execPath, ['-e', nodeScript], nodeEnv({ PIPELINE_CONFIG: '{"outputBucket":"o"}', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769', ...lambdaEnv })],
  ];
  if (env.boto3 && env.pillow) {
    kinds.push(['python-import', PYTHON, ['-c', pyImport], pythonEnv(lambdaEnv)]);
    kinds.push(['python-import+client', PYTHON, ['-c', pyClient], pythonEnv(lambdaEnv)]);
  }
  const out: ColdInit['runs'] = Object.fromEntries(kinds.map(([k]) => [k, { init: [], process: [] }]));
  let sharpPath: string | undefined;
  for (let i = 0; i < opts.cold; i++) {
    for (const [k, cmd, args, e] of rotate(kinds, i)) {
      const t0 = process.hrtime.bigint();
      const r = run(cmd, args, { env: e, cwd: taskDir });
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`cold init (${k}) failed: ${r.stderr}`);
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number; sharp?: string };
      out[k]!.init.push(j.ms);
      out[k]!.process.push(wall);
      if (j.sharp) sharpPath = j.sharp;
    }
  }
  return { runs: out, sharpPath };
}
