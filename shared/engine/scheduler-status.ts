import { ValidationError } from '../core/errors.ts';

/**
 * The scheduler's status: what its dashboard serves at `GET /api/status`, what
 * `client.schedulerInfo()` returns, and what the compute backends read to tell
 * whether a cluster is ready and idle. The one definition of that shape; it
 * never includes the token.
 *
 * Checked by hand rather than with zod: this module is on the wire path of the
 * scheduler and worker processes (comm/protocol), and pulling zod into their
 * bundles quadrupled them and cost ~200 ms of every process start.
 */
export interface SchedulerStatus {
  workers: number;
  workerNames: string[];
  tasksProcessing: number;
  tasksQueued: number;
  tasksInMemory: number;
  tasksTotal: number;
  clientsConnected: number;
  /** ISO time of the last client message or task result; null before the first. */
  lastActivityAt: string | null;
  uptimeSeconds: number;
}

type FieldKind = 'count' | 'non-negative number' | 'string array' | 'string or null';

const FIELDS: Readonly<Record<keyof SchedulerStatus, FieldKind>> = {
  workers: 'count',
  workerNames: 'string array',
  tasksProcessing: 'count',
  tasksQueued: 'count',
  tasksInMemory: 'count',
  tasksTotal: 'count',
  clientsConnected: 'count',
  lastActivityAt: 'string or null',
  uptimeSeconds: 'non-negative number',
};

const EXPECTED: Readonly<Record<FieldKind, string>> = {
  count: 'expected a non-negative integer',
  'non-negative number': 'expected a non-negative number',
  'string array': 'expected an array of strings',
  'string or null': 'expected a string or null',
};

function fits(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case 'count':
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case 'non-negative number':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0;
    case 'string array':
      return Array.isArray(v) && v.every((s) => typeof s === 'string');
    case 'string or null':
      return v === null || typeof v === 'string';
  }
}

/** Every problem with a status body, each with its field path; empty when it is well-formed. */
export function schedulerStatusIssues(body: unknown): Array<{ path: string; message: string }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ path: '', message: 'expected an object' }];
  const issues: Array<{ path: string; message: string }> = [];
  for (const [field, kind] of Object.entries(FIELDS) as Array<[keyof SchedulerStatus, FieldKind]>) {
    const v = Object.hasOwn(body, field) ? (body as Record<string, unknown>)[field] : undefined;
    if (!fits(kind, v)) issues.push({ path: field, message: v === undefined ? `${EXPECTED[kind]}, got nothing` : EXPECTED[kind] });
  }
  return issues;
}

/** Parse a status body (JSON already decoded); a bad one is a ValidationError naming every field. Unknown fields are dropped. */
export function parseSchedulerStatus(body: unknown): SchedulerStatus {
  const details = schedulerStatusIssues(body);
  if (details.length > 0) {
    throw new ValidationError(`invalid scheduler status: ${details.map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ')}`, details);
  }
  const b = body as Record<string, unknown>;
  const out = {} as Record<string, unknown>;
  for (const field of Object.keys(FIELDS)) out[field] = field === 'workerNames' ? [...(b[field] as string[])] : b[field];
  return out as unknown as SchedulerStatus;
}
