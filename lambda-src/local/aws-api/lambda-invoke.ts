/**
 * Lambda's Invoke API with InvocationType Event, for backfills: the payload is handed on as an
 * asynchronous invocation and answered 202, as Lambda answers it. Only the functions the endpoint
 * serves exist: any other name answers 404 ResourceNotFoundException, as Lambda does.
 */
import { randomUUID } from 'crypto';
import type * as http from 'http';

/** Takes an asynchronous invocation's payload. */
export type InvokeHandler = (functionName: string, payload: unknown) => void;

/** The name the local pipeline's function answers to, unless told others. */
export const DEFAULT_FUNCTION_NAMES: readonly string[] = ['image-pipeline'];

/**
 * The function a FunctionName names, as Lambda reads it: a name, `<account>:function:<name>`, or
 * `arn:aws:lambda:<region>:<account>:function:<name>`, each with an optional `:<qualifier>`; only
 * the unqualified function or `$LATEST` is served locally. Undefined when it names none of `known`.
 */
export function resolveFunctionName(functionName: string, known: readonly string[]): string | undefined {
  let name = functionName;
  let qualifier: string | undefined;
  const arn = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?$/.exec(functionName)
    ?? /^\d{12}:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?$/.exec(functionName);
  if (arn) {
    [, name, qualifier] = arn;
  } else {
    const m = /^([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?$/.exec(functionName);
    if (!m) return undefined;
    [, name, qualifier] = m;
  }
  if (qualifier !== undefined && qualifier !== '$LATEST') return undefined;
  return known.includes(name) ? name : undefined;
}

/** Answers `POST /2015-03-31/functions/<name>/invocations`; without a handler, no function exists. */
export function answerInvoke(functionName: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse,
  onInvoke: InvokeHandler | undefined, known: readonly string[] = DEFAULT_FUNCTION_NAMES): void {
  const fail = (status: number, type: string, message: string) => {
    const text = JSON.stringify({ Type: 'User', message });
    res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const name = onInvoke ? resolveFunctionName(functionName, known) : undefined;
  if (!onInvoke || !name) {
    return fail(404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
  }
  if (req.headers['x-amz-invocation-type'] !== 'Event') {
    return fail(400, 'InvalidParameterValueException', 'the local function takes asynchronous invocations only (InvocationType Event)');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8') || 'null');
  } catch {
    return fail(400, 'InvalidRequestContentException', 'Could not parse request body into json');
  }
  onInvoke(name, payload);
  res.writeHead(202, { 'Content-Length': '0', 'x-amzn-RequestId': randomUUID() });
  res.end();
}
