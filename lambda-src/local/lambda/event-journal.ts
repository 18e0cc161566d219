/**
 * The local Lambda's queue of asynchronous invocations, on disk: one file per event taken and not
 * yet ended, so that an acknowledged upload survives a crash of the process (kill -9 included)
 * and runs at the next start, as S3 and Lambda keep an event they have accepted.
 *
 * An entry is written (to `<id>.tmp`, fsync, renamed to `<id>.json`, the folder fsynced) before
 * the caller acknowledges the event, and removed once its invocation has ended: outputs written,
 * or its failure record in the failure queue. A `.tmp` left by a crash was never acknowledged and
 * is dropped at the next open. File names begin with the time and a counter, so replay keeps order.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export interface JournalEntry {
  /** The invocation's request id, the same across restarts. */
  readonly id: string;
  /** When the event was first taken, in ms since the epoch (Lambda's event age counts from it). */
  readonly enqueuedAt: number;
  readonly event: unknown;
}

export class EventJournal {
  private dirFd?: number;
  private counter = 0;
  /** File name of each entry, by id, in the order taken. */
  private readonly files = new Map<string, string>();

  constructor(readonly dir: string) {}

  /** Entries not yet ended. */
  get size(): number {
    return this.files.size;
  }

  /**
   * Creates the folder if missing and returns the entries a previous run left, oldest first.
   * An entry that cannot be read is moved aside (`.unreadable`) and reported through `onProblem`.
   */
  open(onProblem: (message: string) => void = () => undefined): JournalEntry[] {
    fs.mkdirSync(this.dir, { recursive: true });
    this.dirFd = fs.openSync(this.dir, 'r');
    const entries: JournalEntry[] = [];
    for (const name of fs.readdirSync(this.dir).sort()) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as JournalEntry;
        if (typeof entry.id !== 'string' || typeof entry.enqueuedAt !== 'number') throw new Error('not a journal entry');
        this.files.set(entry.id, name);
        entries.push(entry);
      } catch (e) {
        fs.renameSync(file, `${file}.unreadable`);
        onProblem(`the journal entry ${file} cannot be read (${(e as Error).message}); moved aside`);
      }
    }
    return entries;
  }

  /** Writes an event durably and returns its entry; throws if it could not be written. */
  append(event: unknown, enqueuedAt = Date.now()): JournalEntry {
    if (this.dirFd === undefined) throw new Error('the event journal is not open');
    const entry: JournalEntry = { id: randomUUID(), enqueuedAt, event };
    const name = `${String(enqueuedAt).padStart(15, '0')}-${String(this.counter++ % 1e6).padStart(6, '0')}-${entry.id}.json`;
    const file = path.join(this.dir, name);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeSync(fd, JSON.stringify(entry));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fs.fsyncSync(this.dirFd);
    this.files.set(entry.id, name);
    return entry;
  }

  /** Removes an ended event's entry. */
  retire(id: string): void {
    const name = this.files.get(id);
    if (name === undefined) return;
    this.files.delete(id);
    fs.rmSync(path.join(this.dir, name), { force: true });
  }

  has(id: string): boolean {
    return this.files.has(id);
  }

  close(): void {
    if (this.dirFd !== undefined) fs.closeSync(this.dirFd);
    this.dirFd = undefined;
  }
}
