import type { Group } from '../lib/measures.ts';

export interface GroupContext {
  quick: boolean;
  emit(name: string, value: number | null, unit: string, extra?: Record<string, unknown>): void;
}

export async function runGroup(group: Group, _ctx: GroupContext): Promise<void> {
  throw new Error(`recc group ${group}: the compute engine is not available yet`);
}
