import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { apiHandler, type ApiDeps } from '../functions/commons/api.ts';
import { clusterIdParams } from '../functions/commons/schemas.ts';
import { ClusterNotFoundError } from '../shared/ports/errors.ts';
import type { LocalRoute } from './api-server.ts';

/**
 * Cluster logs on the local stack: `GET /clusters/{id}/logs` (served by the
 * local API server only) reads `<stateDir>/clusters/<id>/logs/*.log`, which
 * outlive the cluster, so logs stay readable after DELETED or FAILED.
 *
 * Query: `component=scheduler|worker`; `offsets=scheduler.log:1234,worker-0.log:0`
 * to continue each file from a byte offset (what `--follow` sends back);
 * without an offset a file is returned from its last `tailBytes` (64 KiB).
 */
export interface LogFileChunk {
  name: string;
  component: 'scheduler' | 'worker';
  /** Size of the file when read. */
  size: number;
  /** Byte offset `content` starts at. */
  offset: number;
  content: string;
}

export interface ClusterLogs {
  clusterId: string;
  files: LogFileChunk[];
}

const MAX_CHUNK = 1024 * 1024;

export async function readClusterLogs(
  stateDir: string,
  clusterId: string,
  options: { component?: 'scheduler' | 'worker'; offsets?: Record<string, number>; tailBytes?: number } = {},
): Promise<ClusterLogs> {
  const dir = join(stateDir, 'clusters', clusterId, 'logs');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^(scheduler|worker-\d+)\.log$/.test(n));
  } catch {
    return { clusterId, files: [] };
  }
  const rank = (n: string) => (n.startsWith('scheduler') ? -1 : Number(/(\d+)/.exec(n)?.[1] ?? 0));
  names.sort((a, b) => rank(a) - rank(b));
  const files: LogFileChunk[] = [];
  for (const name of names) {
    const component = name.startsWith('scheduler') ? 'scheduler' : 'worker';
    if (options.component && component !== options.component) continue;
    const path = join(dir, name);
    const { size } = await stat(path);
    const requested = options.offsets?.[name];
    let offset = requested === undefined ? Math.max(0, size - (options.tailBytes ?? 64 * 1024)) : Math.min(requested, size);
    if (size - offset > MAX_CHUNK) offset = size - MAX_CHUNK;
    const length = size - offset;
    let content = '';
    if (length > 0) {
      const handle = await open(path, 'r');
      try {
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, offset);
        content = buf.toString('utf8');
      } finally {
        await handle.close();
      }
      // Start a tail at a line boundary.
      if (requested === undefined && offset > 0) {
        const nl = content.indexOf('\n');
        if (nl >= 0) {
          offset += Buffer.byteLength(content.slice(0, nl + 1));
          content = content.slice(nl + 1);
        }
      }
    }
    files.push({ name, component, size, offset, content });
  }
  return { clusterId, files };
}

export function parseOffsets(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (text ?? '').split(',')) {
    const m = /^([A-Za-z0-9_.-]+):(\d+)$/.exec(part.trim());
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

const logsQuery = z.strictObject({
  // driver and control lines are shipped to CloudWatch on AWS; the local stack keeps scheduler and worker files.
  component: z.enum(['scheduler', 'worker', 'driver', 'control']).optional(),
  offsets: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+:\d+)(,[A-Za-z0-9_.-]+:\d+)*$/, 'must be name:offset pairs separated by commas')
    .optional(),
  tailBytes: z.coerce.number().int().min(0).max(MAX_CHUNK).optional(),
  // Accepted so one client serves both answers: the CLI filters these files' lines (CloudWatch filters on AWS).
  since: z.string().max(64).optional(),
  grep: z.string().max(512).optional(),
});

/** The local-only route. Visibility follows the API: the owner or an admin; anyone else gets 404. */
export function clusterLogsRoute(deps: ApiDeps, stateDir: string): LocalRoute {
  return {
    method: 'GET',
    path: '/clusters/{id}/logs',
    handler: apiHandler(deps, { name: 'clusterLogs', path: clusterIdParams, query: logsQuery }, async ({ path, query, caller }) => {
      // Read the record directly: reading logs is not cluster activity (a `--follow` must not keep it alive).
      const record = await deps.store.get(path.id);
      if (!record || (record.owner !== caller.user && !caller.admin)) throw new ClusterNotFoundError(path.id);
      if (query.component === 'driver' || query.component === 'control') return { statusCode: 200, body: { clusterId: record.id, files: [], status: record.status } };
      const logs = await readClusterLogs(stateDir, record.id, {
        ...(query.component ? { component: query.component } : {}),
        offsets: parseOffsets(query.offsets),
        ...(query.tailBytes !== undefined ? { tailBytes: query.tailBytes } : {}),
      });
      return { statusCode: 200, body: { ...logs, status: record.status } };
    }),
  };
}
