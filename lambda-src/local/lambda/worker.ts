/**
 * One local "execution environment": a child process that loads the handler bundle once (its
 * init, as Lambda's cold start) and then runs one invocation at a time, sent over IPC.
 * The parent sets the environment as Lambda would: PIPELINE_CONFIG, NODE_PATH with the sharp
 * layer, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, the S3 endpoint override.
 */
import type { InvokeMessage, WorkerMessage } from './protocol';

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** Loads the handler named by argv[2] and runs the invocations the parent sends. */
export function runWorker(): void {
  const handlerPath = process.argv[2];
  const started = process.hrtime.bigint();
  let handler: (event: unknown, context: unknown) => Promise<unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require(handlerPath).handler;
    if (typeof handler !== 'function') throw new TypeError(`${handlerPath} exports no handler function`);
  } catch (e) {
    const err = e as Error;
    send({ type: 'init-error', errorType: err.name ?? 'Error', errorMessage: err.message });
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100);
    return;
  }
  send({ type: 'ready', initMs: Number(process.hrtime.bigint() - started) / 1e6 });

  process.on('message', (msg: InvokeMessage) => {
    if (msg.type !== 'invoke') return;
    const context = {
      awsRequestId: msg.requestId,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      getRemainingTimeInMillis: () => Math.max(0, msg.deadlineMs - Date.now()),
    };
    Promise.resolve()
      .then(() => handler(msg.event, context))
      .then((result) => send({ type: 'result', requestId: msg.requestId, ok: true, result: result ?? null }))
      .catch((e: Error) => send({
        type: 'result',
        requestId: msg.requestId,
        ok: false,
        errorType: e?.name ?? 'Error',
        errorMessage: e?.message ?? String(e),
      }));
  });
  process.on('disconnect', () => process.exit(0));
}
