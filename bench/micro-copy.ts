/**
 * Evidence for bench/FINDINGS.md §3: copying 100 MiB in 64 KiB chunks into a
 * freshly allocated buffer (every page faults on first touch) against a buffer
 * whose pages are already mapped, and a fresh zeroed ArrayBuffer + set (what
 * a copy for a worker thread costs).  tsx bench/micro-copy.ts
 */
const N = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;
const src = Buffer.alloc(CHUNK, 1);

function fill(dst: Buffer): void {
  for (let o = 0; o < N; o += CHUNK) src.copy(dst, o);
}

const reused = Buffer.allocUnsafe(N);
fill(reused);
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  fill(Buffer.allocUnsafe(N));
  const fresh = performance.now() - t;
  t = performance.now();
  fill(reused);
  const warm = performance.now() - t;
  t = performance.now();
  new Uint8Array(new ArrayBuffer(N)).set(reused);
  const ab = performance.now() - t;
  process.stdout.write(`100 MiB: into a fresh Buffer ${fresh.toFixed(1)} ms, into a reused Buffer ${warm.toFixed(1)} ms, fresh ArrayBuffer + set ${ab.toFixed(1)} ms\n`);
}
