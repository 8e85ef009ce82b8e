/**
 * Table graphs: partitions are futures or lazy task nodes; a node's key is a
 * hash of what it does and of its inputs' keys, so the same plan built twice
 * (or two tables sharing a prefix) shares tasks and results. `GraphRunner`
 * turns nodes into wire tasks for one update-graph.
 */
import { createHash } from 'node:crypto';
import { encodeValue, KeyRef, type FunctionDef } from '../../comm/payload.ts';
import type { WireTask } from '../../comm/protocol.ts';
import { SHARDS_KEY, type ShuffleTaskInfo } from '../../shared/shuffle/types.ts';
import type { Client } from '../client.ts';
import { Future } from '../future.ts';
import { functionRef, type FunctionRef, type ModuleFunction } from '../functions.ts';
import type { Op, Partitioning, Step } from './spec.ts';

export interface TaskNode {
  readonly key: string;
  /** `op`: tableOp(op, ...inputs); `barrier`: the shuffle barrier (no arguments). */
  readonly kind: 'op' | 'barrier';
  readonly op: Op | null;
  /** Partition arguments after `op`. */
  readonly inputs: readonly Part[];
  /** An unpack gets its shards as its one argument after `op`. */
  readonly shards: boolean;
  /** Tasks it waits for (its inputs, or the barrier). */
  readonly deps: readonly Part[];
  readonly shuffle: ShuffleTaskInfo | null;
}

/** A partition: a computed future, or a task to run. */
export type Part = Future<unknown> | TaskNode;

export function keyOf(p: Part): string {
  return p instanceof Future ? p.key : p.key;
}

function digest(...parts: Array<string | Uint8Array>): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** A task running `op` over `inputs`, keyed `<label>-<hash>`. */
export function opNode(label: string, op: Op, inputs: readonly Part[]): TaskNode {
  const key = `${label}-${digest(encodeValue(op), ...inputs.map(keyOf))}`;
  return { key, kind: 'op', op, inputs, shards: false, deps: inputs, shuffle: null };
}

/** `p` with one more step: folded into p's task when p is a lazy chain or concat (no intermediate result). */
export function withStep(p: Part, step: Step, label: string): Part {
  if (!(p instanceof Future) && p.kind === 'op' && p.op && (p.op.k === 'chain' || p.op.k === 'concat') && p.shuffle === null) {
    return opNode(label, { ...p.op, steps: [...p.op.steps, step] }, p.inputs);
  }
  return opNode(label, { k: 'chain', part: partOf(p), steps: [step] }, [p]);
}

/** The partition index a node was built for (0 for futures; only used in error messages). */
function partOf(p: Part): number {
  return p instanceof Future ? 0 : (p.op?.part ?? 0);
}

/** `label` steps over every partition, numbering them for error messages. */
export function mapParts(parts: readonly Part[], label: string, step: Step): Part[] {
  return parts.map((p, i) => (p instanceof Future ? opNode(label, { k: 'chain', part: i, steps: [step] }, [p]) : withStep(p, step, label)));
}

/**
 * A shuffle of `inputs` into `m` outputs: one transfer per input, one
 * barrier, one unpack per output (with `steps` after the shards are
 * concatenated; `schema` is the empty input table as IPC). O(N + M) tasks.
 */
export function shuffleParts(label: string, inputs: readonly Part[], by: Partitioning, m: number, schema: Uint8Array, steps: (j: number) => Step[], options: { runs?: true } = {}): TaskNode[] {
  const runs = options.runs ? { runs: true as const } : {};
  // Split with runs or without, the transfers' bytes differ: one shuffle id each.
  const id = `${label}-${digest(encodeValue(by), String(m), ...(options.runs ? ['runs'] : []), ...inputs.map(keyOf))}`;
  const n = inputs.length;
  const transfers: TaskNode[] = inputs.map((p, i) => {
    const op: Op = { k: 'split', part: i, steps: [], by, m, ...runs };
    return { key: `shuffle-transfer-${id}-${i}`, kind: 'op', op, inputs: [p], shards: false, deps: [p], shuffle: { id, role: 'transfer', i, n: m } };
  });
  const barrier: TaskNode = { key: `shuffle-barrier-${id}`, kind: 'barrier', op: null, inputs: [], shards: false, deps: transfers, shuffle: { id, role: 'barrier', i: 0, n } };
  return Array.from({ length: m }, (_, j) => {
    const op: Op = { k: 'unpack', part: j, schema, steps: steps(j), ...runs };
    return { key: `${label}-${digest(encodeValue(op), id)}-${j}`, kind: 'op', op, inputs: [], shards: true, deps: [barrier], shuffle: { id, role: 'unpack', i: j, n } } satisfies TaskNode;
  });
}

// The barrier only waits; inline so it needs no module.
const barrierRef: FunctionRef = functionRef(function shuffleBarrier() {
  return null;
});

/** Module user functions by id (mapPartitions(mod.fn(name))): their definitions go with every graph that uses them. */
const moduleFunctions = new Map<string, FunctionDef>();

export function registerModuleFunction(fn: ModuleFunction): void {
  moduleFunctions.set(fn.id, fn.def);
}

/** Ids of the module user functions an op calls. */
export function moduleIdsOf(op: Op | null): string[] {
  if (!op || !('steps' in op)) return [];
  const ids: string[] = [];
  for (const s of op.steps) if ((s.k === 'map' || s.k === 'filter' || s.k === 'apply') && s.fn.module) ids.push(s.fn.module);
  return ids;
}

const opsModules = new WeakMap<Client, Promise<ModuleFunction>>();

/** The ops module (ops.ts bundled with apache-arrow), uploaded once per client. */
export function opsFunction(client: Client): Promise<ModuleFunction> {
  let p = opsModules.get(client);
  if (!p) {
    p = client.module(new URL('./ops.ts', import.meta.url)).then((m) => m.fn('tableOp'));
    p.catch(() => opsModules.delete(client));
    opsModules.set(client, p);
  }
  return p;
}

/** Submit the graphs behind `parts`; returns one future per partition (futures stay as they are). */
export async function submitParts(client: Client, parts: readonly Part[]): Promise<Array<Future<unknown>>> {
  const ops = await opsFunction(client);
  const tasks: WireTask[] = [];
  const seen = new Set<string>();
  const nodes = new Map<string, TaskNode>();
  const visit = (p: Part) => {
    if (p instanceof Future || seen.has(p.key)) return;
    seen.add(p.key);
    nodes.set(p.key, p);
    for (const d of p.deps) visit(d);
    for (const d of p.inputs) visit(d);
    tasks.push(wireTaskOf(p, ops));
  };
  // Iterative enough: graphs are a few levels deep (source, steps, shuffle).
  for (const p of parts) visit(p);
  const wants = [...new Set(parts.filter((p): p is TaskNode => !(p instanceof Future)).map((p) => p.key))];
  const fns: Array<[string, FunctionDef]> = [
    [ops.id, ops.def],
    [barrierRef.id, barrierRef.def],
  ];
  const userModules = new Set(tasks.length > 0 ? [...seen].flatMap((k) => moduleIdsOf(nodes.get(k)?.op ?? null)) : []);
  for (const id of userModules) fns.push([id, moduleFunctions.get(id) as FunctionDef]);
  const futures = client._submitTasks<unknown>(tasks, fns, wants);
  const byKey = new Map(futures.map((f) => [f.key, f]));
  return parts.map((p) => (p instanceof Future ? p : (byKey.get(p.key) as Future<unknown>)));
}

function wireTaskOf(p: TaskNode, ops: ModuleFunction): WireTask {
  const deps = [...new Set(p.deps.map(keyOf))];
  if (p.kind === 'barrier') return { key: p.key, fn: barrierRef.id, args: encodeValue([]), deps, resources: null, retries: 0, ...(p.shuffle ? { shuffle: p.shuffle } : {}) };
  const args: unknown[] = [p.op, ...p.inputs.map((i) => new KeyRef(keyOf(i)))];
  if (p.shards) args.push(new KeyRef(SHARDS_KEY));
  const uses = moduleIdsOf(p.op);
  return { key: p.key, fn: ops.id, args: encodeValue(args), deps, resources: null, retries: 0, ...(p.shuffle ? { shuffle: p.shuffle } : {}), ...(uses.length > 0 ? { uses } : {}) };
}
