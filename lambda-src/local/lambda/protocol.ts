/**
 * The messages between the local Lambda pool and a worker process (one execution environment),
 * over the child process's IPC channel.
 */
export interface InvokeMessage {
  readonly type: 'invoke';
  readonly requestId: string;
  readonly event: unknown;
  /**
   * When the invocation times out, in milliseconds since the epoch: its start plus the function's
   * timeout, as Lambda's runtime API gives it (`Lambda-Runtime-Deadline-Ms`).
   */
  readonly deadlineMs: number;
}

export type WorkerMessage =
  | { readonly type: 'ready'; readonly initMs: number }
  | { readonly type: 'init-error'; readonly errorType: string; readonly errorMessage: string }
  | { readonly type: 'result'; readonly requestId: string; readonly ok: true; readonly result: unknown }
  | { readonly type: 'result'; readonly requestId: string; readonly ok: false; readonly errorType: string; readonly errorMessage: string };
