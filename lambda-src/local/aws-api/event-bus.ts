/**
 * The local EventBridge bus: PutEvents entries become events as the default bus delivers them to
 * a rule's target, appended to a JSON-lines file and emitted as 'event'.
 */
import { randomUUID } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
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

/** One entry of a PutEvents request. */
export interface PutEventsEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: string[];
  readonly Time?: number | string;
}

export type PutEventsResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

export class EventBus extends EventEmitter {
  /** @param file the JSON-lines file every event is appended to */
  constructor(readonly file: string) {
    super();
  }

  /** Creates the file's folder. */
  open(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
  }

  /** The events delivered so far (read back from the file). */
  read(): DeliveredEvent[] {
    if (!fs.existsSync(this.file)) return [];
    return fs.readFileSync(this.file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as DeliveredEvent);
  }

  /** PutEvents: each entry delivered, or refused as EventBridge refuses it. */
  putEvents(entries: PutEventsEntry[]): { Entries: PutEventsResultEntry[]; FailedEntryCount: number } {
    const results = entries.map((e) => this.put(e));
    return { Entries: results, FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length };
  }

  private put(e: PutEventsEntry): PutEventsResultEntry {
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
