/**
 * The local stand-in for two AWS APIs: EventBridge's PutEvents (the handler's events, as the
 * default bus would deliver them to a rule's target, appended to a JSON-lines file and emitted as
 * 'event'), and Lambda's Invoke with InvocationType Event (handed to `onInvoke`, for backfills).
 */
import { randomUUID } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

/** An event as EventBridge delivers it to a target. */
export interface DeliveredEvent {
  readonly 'version': '0';
  readonly 'id': string;
  readonly 'detail-type': string;
  readonly 'source': string;
  readonly 'account': string;
  readonly 'time': string;
  readonly 'region': string;
  readonly 'resources': string[];
  readonly 'detail': Record<string, unknown>;
  /** The bus it was put on (not part of EventBridge's envelope; kept for the local reader). */
  readonly 'eventBusName': string;
}

interface PutEventsEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: string[];
  readonly Time?: number | string;
}

export class EventsServer extends EventEmitter {
  private server?: http.Server;

  /**
   * @param file the JSON-lines file every event is appended to
   * @param onInvoke takes an asynchronous Lambda invocation's payload; absent, Invoke is refused
   */
  constructor(readonly file: string, private readonly host = '127.0.0.1', private readonly onInvoke?: (functionName: string, payload: unknown) => void) {
    super();
  }

  get endpoint(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error('the events endpoint is not running');
    return `http://${this.host}:${a.port}`;
  }

  async start(): Promise<string> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = (status: number, body: unknown) => {
          const text = JSON.stringify(body);
          res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text) });
          res.end(text);
        };
        const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
        if (req.method === 'POST' && invoke) {
          this.invoke(decodeURIComponent(invoke[1]), req, Buffer.concat(chunks), res);
          return;
        }
        if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
          reply(400, { __type: 'UnknownOperationException', message: `only AWSEvents.PutEvents is served here, got ${req.headers['x-amz-target']}` });
          return;
        }
        let entries: PutEventsEntry[];
        try {
          entries = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries?: PutEventsEntry[] }).Entries ?? [];
        } catch {
          reply(400, { __type: 'SerializationException', message: 'the body is not JSON' });
          return;
        }
        const results = entries.map((e) => this.put(e));
        reply(200, { Entries: results, FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length });
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, this.host, () => resolve());
    });
    return this.endpoint;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  /** The events delivered so far (read back from the file). */
  read(): DeliveredEvent[] {
    if (!fs.existsSync(this.file)) return [];
    return fs.readFileSync(this.file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as DeliveredEvent);
  }

  private invoke(functionName: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const fail = (status: number, type: string, message: string) => {
      const text = JSON.stringify({ Type: 'User', message });
      res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!this.onInvoke) return fail(404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
    if (req.headers['x-amz-invocation-type'] !== 'Event') {
      return fail(400, 'InvalidParameterValueException', 'the local function takes asynchronous invocations only (InvocationType Event)');
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8') || 'null');
    } catch {
      return fail(400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    this.onInvoke(functionName, payload);
    res.writeHead(202, { 'Content-Length': '0', 'x-amzn-RequestId': randomUUID() });
    res.end();
  }

  private put(e: PutEventsEntry): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    if (!e.Source || !e.DetailType || !e.Detail) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Source, DetailType and Detail are required' };
    }
    let detail: Record<string, unknown>;
    try {
      detail = JSON.parse(e.Detail) as Record<string, unknown>;
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON' };
    }
    const event: DeliveredEvent = {
      'version': '0',
      'id': randomUUID(),
      'detail-type': e.DetailType,
      'source': e.Source,
      'account': '000000000000',
      'time': new Date(typeof e.Time === 'number' ? e.Time * 1000 : e.Time ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'region': 'us-east-1',
      'resources': e.Resources ?? [],
      'detail': detail,
      'eventBusName': e.EventBusName ?? 'default',
    };
    fs.appendFileSync(this.file, `${JSON.stringify(event)}\n`);
    this.emit('event', event);
    return { EventId: event.id };
  }
}
