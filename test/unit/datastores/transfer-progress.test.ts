import { describe, expect, it } from 'vitest';
import { TransferProgress, formatBytes } from '../../../cli/commands/data-progress.ts';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { stream: { isTTY, write: (s: string) => out.push(s) }, out };
}

describe('TransferProgress', () => {
  it('off a terminal: a first line, then a last line with the total, rate and time', () => {
    let now = 1_000;
    const { stream, out } = sink(false);
    const p = new TransferProgress({ stream, label: 'sync LOCAL → S3', totalObjects: 2, totalBytes: 3 * 1024 * 1024, intervalMs: 3_600_000, now: () => now });
    p.start();
    p.addBytes(1024 * 1024);
    p.objectDone();
    now += 2_000;
    p.addBytes(2 * 1024 * 1024);
    p.objectDone();
    p.finish();
    expect(out).toEqual([
      'sync LOCAL → S3: 0/2 objects, 0 B/3.0 MiB (0%), elapsed 0s, ETA unknown\n',
      'sync LOCAL → S3: 2/2 objects, 3.0 MiB, done in 2s (1.5 MiB/s)\n',
    ]);
  });

  it('on a terminal: a bar redrawn in place on each object, and a final line', () => {
    let now = 0;
    const { stream, out } = sink(true);
    const p = new TransferProgress({ stream, label: 'copy S3 → LOCAL', totalObjects: 4, totalBytes: 4_000, now: () => now });
    p.start();
    now = 1_000;
    p.addBytes(2_000);
    p.objectDone();
    p.finish();
    expect(out[1]).toBe(`\rcopy S3 → LOCAL [${'#'.repeat(12)}${' '.repeat(12)}] 1/4 objects, 2.0 KiB/3.9 KiB (50%) 2.0 KiB/s ETA 1s\x1b[K`);
    expect(out.at(-1)).toBe('\rcopy S3 → LOCAL: 1/4 objects, 2.0 KiB, done in 1s (2.0 KiB/s)\x1b[K\n');
  });

  it('formats sizes in binary units', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1024), formatBytes(20 * 1024 ** 2), formatBytes(3 * 1024 ** 4)]).toEqual(['0 B', '1023 B', '1.0 KiB', '20.0 MiB', '3.0 TiB']);
  });
});
