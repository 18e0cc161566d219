/**
 * The local stand-in for two AWS APIs on one endpoint: EventBridge's PutEvents (the handler's
 * events, delivered to the local bus, `event-bus.ts`) and Lambda's Invoke with InvocationType Event
 * (handed to `onInvoke`, for backfills, `lambda-invoke.ts`).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { EventBus, PutEventsEntry } from './event-bus';
import { answerInvoke, DEFAULT_FUNCTION_NAMES, type InvokeHandler } from './lambda-invoke';

export class AwsApiServer {
  private server?: http.Server;

  /**
   * @param bus where PutEvents delivers
   * @param onInvoke takes an asynchronous Lambda invocation's payload; absent, Invoke is refused
   * @param functionNames the functions Invoke serves; any other answers 404 ResourceNotFoundException
   */
  constructor(readonly bus: EventBus, private readonly host = '127.0.0.1', private readonly onInvoke?: InvokeHandler,
    private readonly functionNames: readonly string[] = DEFAULT_FUNCTION_NAMES) {}

  get endpoint(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error('the events endpoint is not running');
    // an IPv6 host goes in brackets: http://[::1]:80
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async start(): Promise<string> {
    this.bus.open();
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
          let name: string;
          try {
            name = decodeURIComponent(invoke[1]);
          } catch {
            name = invoke[1];
          }
          answerInvoke(name, req, Buffer.concat(chunks), res, this.onInvoke, this.functionNames);
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
        reply(200, this.bus.putEvents(entries));
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
}
