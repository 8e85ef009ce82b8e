/**
 * Plain-text layout for terminal output (pure string building), shared by
 * every command that prints a table or a key/value list.
 */

/**
 * Rows (the first is usually the header) as columns two spaces apart, each
 * padded to its widest cell. The last column is not padded and no line ends
 * in spaces, so empty trailing cells leave nothing behind.
 */
export function formatColumns(rows: readonly (readonly string[])[]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key  value` lines, keys padded to the longest, each line prefixed with `indent`. */
export function formatKeyValues(rows: readonly (readonly [string, string])[], indent = ''): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n');
}
