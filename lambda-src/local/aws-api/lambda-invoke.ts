/**
 * Lambda's Invoke API with InvocationType Event, for backfills: the payload is handed on as an
 * asynchronous invocation and answered 202, as Lambda answers it.
 */
import { randomUUID } from 'crypto';
import type * as http from 'http';

/** Takes an asynchronous invocation's payload. */
export type InvokeHandler = (functionName: string, payload: unknown) => void;

/** Answers `POST /2015-03-31/functions/<name>/invocations`; without a handler, no function exists. */
export function answerInvoke(functionName: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse,
  onInvoke: InvokeHandler | undefined): void {
  const fail = (status: number, type: string, message: string) => {
    const text = JSON.stringify({ Type: 'User', message });
    res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (!onInvoke) return fail(404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
  if (req.headers['x-amz-invocation-type'] !== 'Event') {
    return fail(400, 'InvalidParameterValueException', 'the local function takes asynchronous invocations only (InvocationType Event)');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8') || 'null');
  } catch {
    return fail(400, 'InvalidRequestContentException', 'Could not parse request body into json');
  }
  onInvoke(functionName, payload);
  res.writeHead(202, { 'Content-Length': '0', 'x-amzn-RequestId': randomUUID() });
  res.end();
}
