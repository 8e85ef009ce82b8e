import { joinSchema } from './ops.ts';
import { TableArgumentError } from './errors.ts';
import { opNode, shuffleParts, type Part } from './plan.ts';
import type { DistributedTable } from './table.ts';

/** A right side up to this size is sent whole to every left partition. */
const DEFAULT_BROADCAST_BYTES = 32 * 1024 * 1024;

export interface JoinOptions {
  how?: 'inner' | 'left';
  /** Broadcast the right side when it is at most this big on the workers. @default 32 MiB */
  broadcastBytes?: number;
  /** Partitions of a shuffled join. @default the larger side's */
  npartitions?: number;
}

/**
 * Join on columns. Both sides are computed first (their sizes decide): a
 * small right side is concatenated once and joined with every left
 * partition; otherwise both sides are hash-shuffled on the key into the same
 * number of partitions and joined pairwise.
 */
export function joinTables(left: DistributedTable, right: DistributedTable, on: readonly string[], options: JoinOptions): DistributedTable {
  const how = options.how ?? 'inner';
  if (how !== 'inner' && how !== 'left') throw new TableArgumentError('join: invalid how', [{ path: 'how', message: `expected "inner" or "left", got ${JSON.stringify(how)}` }]);
  if (on.length === 0) throw new TableArgumentError('join: expected the columns to join on', [{ path: 'on', message: 'empty' }]);
  left.requireColumns('join (left side)', on);
  right.requireColumns('join (right side)', on);
  if (right.client !== left.client) throw new TableArgumentError('join: both tables must belong to the same client');
  const schema = left.schema && right.schema ? joinSchema(left.schema, right.schema, on) : null;
  const names = schema ? null : left.columns && right.columns ? [...left.columns, ...right.columns.filter((c) => !on.includes(c)).map((c) => (left.columns?.includes(c) ? `${c}_right` : c))] : null;
  const limit = options.broadcastBytes ?? DEFAULT_BROADCAST_BYTES;
  return left.derived(async () => {
    const [l, r] = await Promise.all([left.persist(), right.persist()]);
    const lp = await l.parts();
    const rp = await r.parts();
    const rightBytes = await l.sizeOf(rp);
    if (rightBytes <= limit) {
      const whole: Part = rp.length === 1 ? (rp[0] as Part) : opNode('join-broadcast', { k: 'concat', part: 0, steps: [] }, rp);
      return lp.map((p, i) => opNode('join', { k: 'join', part: i, on: [...on], how, steps: [] }, [p, whole]));
    }
    const m = options.npartitions ?? Math.max(lp.length, rp.length);
    const ls = shuffleParts('join-left', lp, { hash: [...on] }, m, l.emptySchemaIPC(), () => []);
    const rs = shuffleParts('join-right', rp, { hash: [...on] }, m, r.emptySchemaIPC(), () => []);
    return ls.map((p, j) => opNode('join', { k: 'join', part: j, on: [...on], how, steps: [] }, [p, rs[j] as Part]));
  }, { schema, names }, undefined);
}
