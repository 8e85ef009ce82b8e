import type { ErrorDetail } from '../core/errors.ts';
import { DEFAULT_SPEC } from './defaults.ts';
import { show } from './schema.ts';
import type { TemplateInfo } from './types.ts';

/**
 * Warm capacity (issue 19 #5): a template may keep nodes of its instance type
 * up for named users, so that their clusters skip the node boot, and have the
 * template's image pulled on every node of those groups ahead of time, so
 * that pods skip the image pull.
 *
 *     description: …
 *     spec: { instanceType: c5.xlarge, … }
 *     warm:
 *       nodes: 2            # the node group's minimum (its Auto Scaling MinSize)
 *       users: [arathe]     # whose groups keep them (node groups are per user and instance type)
 *       prePull: true       # a DaemonSet pulls the image on each node of those groups (default true)
 *
 * Warm nodes are a floor, not headroom: a group holds max(nodes the live
 * clusters need, warm nodes). Two templates warming the same (user, instance
 * type) share one group: the larger count wins and both images are pulled.
 */
export interface WarmPool {
  nodes: number;
  users: string[];
  prePull: boolean;
}

/** Warm nodes per group are capped: a typo must not keep a hundred instances up. */
export const MAX_WARM_NODES = 20;
const USER = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const KEYS = ['nodes', 'users', 'prePull'];

/** Parse a template's `warm` block; every problem names its path (`warm.nodes`, `warm.users.1`, …). */
export function parseWarm(raw: unknown, path = 'warm'): { warm?: WarmPool; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ path, message: `must be a mapping with nodes, users and prePull (got ${show(raw)})` }] };
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!KEYS.includes(key)) problems.push({ path: `${path}.${key}`, message: `unknown field; a warm pool has ${KEYS.join(', ')}` });
  }
  const nodes = r.nodes;
  if (typeof nodes !== 'number' || !Number.isInteger(nodes) || nodes < 0 || nodes > MAX_WARM_NODES) {
    problems.push({ path: `${path}.nodes`, message: `must be a whole number from 0 to ${MAX_WARM_NODES} (got ${show(nodes)})` });
  }
  const users = r.users;
  if (!Array.isArray(users) || users.length === 0) {
    problems.push({ path: `${path}.users`, message: `must be a non-empty list of user names whose node groups keep the warm nodes (got ${show(users)})` });
  } else {
    const seen = new Set<string>();
    users.forEach((u, i) => {
      if (typeof u !== 'string' || !USER.test(u)) problems.push({ path: `${path}.users.${i}`, message: `must be a user name (letters, digits, . _ @ + -; at most 64) (got ${show(u)})` });
      else if (seen.has(u)) problems.push({ path: `${path}.users.${i}`, message: `${show(u)} is listed twice` });
      else seen.add(u);
    });
  }
  const prePull = r.prePull ?? true;
  if (typeof prePull !== 'boolean') problems.push({ path: `${path}.prePull`, message: `must be true or false (got ${show(prePull)})` });
  if (problems.length > 0) return { problems };
  return { warm: { nodes: nodes as number, users: [...(users as string[])], prePull: prePull as boolean }, problems };
}

/** What the EKS backend keeps warm for one node group. */
export interface WarmTarget {
  owner: string;
  instanceType: string;
  /** The group's minimum size. */
  nodes: number;
  /** Images pulled ahead of time on every node of the group (sorted; empty: no pre-pull). */
  images: string[];
  /** The templates asking for it (for logs and tags). */
  templates: string[];
}

/**
 * The warm targets of a set of templates, one per (user, instance type):
 * the largest node count, every pre-pulled image (a template without `image`
 * runs `defaultImage`, the backend's digest-pinned image).
 */
export function warmTargets(templates: readonly TemplateInfo[], defaultImage: string): WarmTarget[] {
  const byGroup = new Map<string, WarmTarget>();
  for (const t of templates) {
    if (!t.warm || t.warm.nodes === 0) continue;
    const instanceType = t.spec.instanceType ?? DEFAULT_SPEC.instanceType;
    const image = t.spec.image ?? defaultImage;
    for (const owner of t.warm.users) {
      const key = `${owner}\u0000${instanceType}`;
      const target = byGroup.get(key) ?? { owner, instanceType, nodes: 0, images: [], templates: [] };
      target.nodes = Math.max(target.nodes, t.warm.nodes);
      if (t.warm.prePull && !target.images.includes(image)) target.images = [...target.images, image].sort();
      target.templates = [...target.templates, t.name].sort();
      byGroup.set(key, target);
    }
  }
  return [...byGroup.values()].sort((a, b) => (a.owner + a.instanceType < b.owner + b.instanceType ? -1 : 1));
}
