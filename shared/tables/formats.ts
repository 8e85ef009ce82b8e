import { TableOptionsError } from './errors.ts';

/** File formats readTable/writeTable understand. */
export const TABLE_FORMATS = ['parquet', 'arrow', 'csv', 'jsonl'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

const EXTENSIONS: ReadonlyArray<[string, TableFormat]> = [
  ['.parquet', 'parquet'],
  ['.pq', 'parquet'],
  ['.arrow', 'arrow'],
  ['.ipc', 'arrow'],
  ['.feather', 'arrow'],
  ['.csv', 'csv'],
  ['.jsonl', 'jsonl'],
  ['.ndjson', 'jsonl'],
];

/** The format an object key's extension implies, or undefined. */
export function formatOfKey(key: string): TableFormat | undefined {
  const lower = key.toLowerCase();
  return EXTENSIONS.find(([ext]) => lower.endsWith(ext))?.[1];
}

/** The canonical extension recc writes for a format. */
export function extensionOf(format: TableFormat): string {
  return format === 'arrow' ? '.arrow' : `.${format}`;
}

/** An explicit format wins; otherwise the key's extension decides; neither is an error naming both. */
export function resolveFormat(key: string, explicit: unknown): TableFormat {
  if (explicit !== undefined) {
    if (typeof explicit === 'string' && (TABLE_FORMATS as readonly string[]).includes(explicit)) return explicit as TableFormat;
    throw new TableOptionsError(`unknown table format ${JSON.stringify(explicit)} for "${key}"`, [
      { path: 'format', message: `expected one of ${TABLE_FORMATS.join(', ')}` },
    ]);
  }
  const f = formatOfKey(key);
  if (f) return f;
  throw new TableOptionsError(`cannot tell the format of "${key}" from its name`, [
    { path: 'format', message: `pass { format } (one of ${TABLE_FORMATS.join(', ')}) or use an extension: ${EXTENSIONS.map(([e]) => e).join(', ')}` },
  ]);
}
