import { setFlagsFromString } from 'node:v8';

const applied = new Set<string>();

/**
 * Set V8 flags in this process, each once (the engine's processes tune V8
 * at start: worker/v8-tuning.ts, scheduler/v8-tuning.ts). Process-wide:
 * they reach task threads started later too.
 */
export function applyV8Flags(flags: readonly string[]): void {
  for (const flag of flags) {
    if (applied.has(flag)) continue;
    applied.add(flag);
    setFlagsFromString(flag);
  }
}
