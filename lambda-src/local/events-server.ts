/**
 * A local stand-in for Amazon EventBridge's PutEvents: the handler's events, as the default bus
 * would deliver them to a rule's target, appended to a JSON-lines file and emitted as 'event'.
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

  /** @param file the JSON-lines file every event is appended to */
  constructor(readonly file: string, private readonly host = '127.0.0.1') {
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
