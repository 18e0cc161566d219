/**
 * Deletes (opt-in, `processDeletes`): an input's ObjectRemoved event removes its outputs, its
 * manifest and its failure record, ordered by the S3 event sequencer as uploads are.
 *
 * A delete first writes a tombstone, `<outputPrefix>_deleted/<input key less inputPrefix>.json`,
 * carrying the delete's sequencer, with the same compare-and-swap as every other result; then it
 * removes every result of an older upload (conditional deletes). Uploads check the tombstone
 * after writing their outputs, as they check the other kind of result: an upload older than the
 * delete takes its outputs back, whatever order the two events run in; an upload newer than the
 * delete removes the tombstone. A delete that finds a newer upload's results takes its tombstone
 * back. So a key ends with its newest event's state: outputs, a failure record, or a tombstone.
 */
import type { OrderedWriter, Source } from './ordered-writes';
import { tombstoneKey } from './output-keys';
import type { PipelineConfig } from '../src/contract';

/** The tombstone written when an input is deleted. */
export interface Tombstone {
  readonly bucket: string;
  readonly key: string;
  /** The ObjectRemoved event's sequencer: later than every upload of the key before the delete. */
  readonly sequencer?: string;
  readonly eventName: string;
  readonly time: string;
}


export type RemovalOutcome =
  | { readonly status: 'deleted'; readonly tombstone: string; readonly removed: string[] }
  | { readonly status: 'superseded' };

/**
 * Records the delete of `source.key` and removes the results of older uploads of it.
 * @param results every key an upload of the input may have written: outputs, manifest, failure record
 */
export async function removeResults(writer: OrderedWriter, config: Pick<PipelineConfig, 'inputPrefix' | 'outputPrefix'>,
  bucket: string, eventName: string, source: Source, results: readonly string[]): Promise<RemovalOutcome> {
  const tombstone = tombstoneKey(config, source.key);
  const record: Tombstone = { bucket, key: source.key, sequencer: source.sequencer, eventName, time: new Date().toISOString() };
  const eTag = await writer.put({ key: tombstone, body: JSON.stringify(record, null, 2), contentType: 'application/json' }, source);
  // A newer delete's tombstone, or a newer upload's? Only a delete writes here; an upload after it removed it.
  if (eTag === undefined) return { status: 'superseded' };
  const removed: string[] = [];
  for (const key of results) {
    const found = await writer.clearOlder(key, source);
    if (found === 'newer') {
      // A newer upload has its results: the key is not deleted any more.
      await writer.deleteIfMatch(tombstone, eTag);
      return { status: 'superseded' };
    }
    if (found === 'removed') removed.push(key);
  }
  return { status: 'deleted', tombstone, removed };
}
