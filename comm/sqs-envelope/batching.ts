/**
 * Many items per envelope, up to the inline size: a map of 10,000 tasks or a
 * burst of results costs a few SQS messages, not one per item. Items that do
 * not fit together are split in halves until each part fits; a single item
 * still too large is returned alone (its envelope then goes through S3).
 */
export interface PackedPart<T> {
  items: T[];
  body: Buffer;
}

export function packToFit<T>(items: readonly T[], pack: (items: T[]) => Buffer, fits: (bodyBytes: number) => boolean): Array<PackedPart<T>> {
  const out: Array<PackedPart<T>> = [];
  const visit = (part: T[]) => {
    const body = pack(part);
    if (part.length <= 1 || fits(body.length)) {
      out.push({ items: part, body });
      return;
    }
    // Split in proportion: the first half rarely needs another pack.
    const mid = Math.ceil(part.length / 2);
    visit(part.slice(0, mid));
    visit(part.slice(mid));
  };
  if (items.length > 0) visit([...items]);
  return out;
}

/**
 * SQS batch calls: at most 10 entries and 256 KiB in total per call. Entries
 * are grouped in order; an entry over the byte budget alone is a group alone.
 */
export function sqsBatches<T>(entries: readonly T[], sizeOf: (entry: T) => number, maxEntries = 10, maxBytes = 256 * 1024): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    const n = sizeOf(e);
    if (current.length > 0 && (current.length >= maxEntries || bytes + n > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
