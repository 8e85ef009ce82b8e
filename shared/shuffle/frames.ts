/**
 * Framing of shard lists into one byte array: `[u32 count][u32 length × count][bytes…]`,
 * little endian. An unpack task gets all its shards as one buffer (one copy,
 * shareable with the task thread); the task splits it without copying.
 */

export function framedLength(parts: readonly Uint8Array[]): number {
  return 4 + 4 * parts.length + piecesLength(parts);
}

/** Write a frame's count and lengths into `out` at `offset` (its parts follow); returns where the parts start. */
export function writeFrameHeader(lengths: readonly number[], out: Uint8Array, offset = 0): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(offset, lengths.length, true);
  let at = offset + 4;
  for (const n of lengths) {
    view.setUint32(at, n, true);
    at += 4;
  }
  return at;
}

/** The bytes of `pieces`, in order. */
export function piecesLength(pieces: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of pieces) n += p.byteLength;
  return n;
}

/** `pieces` written one after another into `out` (from `at`); returns where they end. */
export function writePieces(pieces: readonly Uint8Array[], out: Uint8Array, at = 0): number {
  for (const p of pieces) {
    out.set(p, at);
    at += p.byteLength;
  }
  return at;
}

/** `pieces` joined into new memory (an IPC stream's pieces, a shard). */
export function joinPieces(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(piecesLength(pieces));
  writePieces(pieces, out);
  return out;
}

/** Write the frame of `parts` into `out` at `offset`; returns the end offset. */
export function writeFrames(parts: readonly Uint8Array[], out: Uint8Array, offset = 0): number {
  return writePieces(parts, out, writeFrameHeader(parts.map((p) => p.byteLength), out, offset));
}

export function frame(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(framedLength(parts));
  writeFrames(parts, out);
  return out;
}

/** Views of the parts inside `bytes` (no copy). Throws RangeError on a truncated or malformed frame. */
export function unframe(bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength < 4) throw new RangeError(`shard frame of ${bytes.byteLength} bytes is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  let at = 4 + 4 * count;
  if (at > bytes.byteLength) throw new RangeError(`shard frame announces ${count} parts but has ${bytes.byteLength} bytes`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(4 + 4 * i, true);
    if (at + len > bytes.byteLength) throw new RangeError(`shard ${i} of the frame is truncated`);
    out.push(bytes.subarray(at, at + len));
    at += len;
  }
  return out;
}
