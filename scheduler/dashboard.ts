import { createServer, type Server as HttpServer } from 'node:http';
import type { StoryEntry } from '../comm/protocol.ts';
import type { SchedulerStatus } from '../shared/engine/scheduler-status.ts';
import type { LiveView } from './dashboard/aggregate.ts';
import { authorizeApi } from './dashboard/auth.ts';
import { handleLiveRoute } from './dashboard/routes.ts';
import type { DashboardRecorder } from './dashboard/recorder.ts';
import { LiveFeed, type ClusterInfo } from './dashboard/stream.ts';
import { SchedulerStartError } from './errors.ts';

export interface DashboardSource {
  status(): SchedulerStatus;
  story(key: string): StoryEntry[];
  /** Rows of the status page: one per worker. */
  workerRows(): Array<{ name: string; address: string; nthreads: number; processing: number; stored: number }>;
  readonly address: string;
  /** The cluster token: the live page (`/`, `/api/live`) and the status API (`/api/status`, `/api/story/…`) require it; `/health` stays open for probes. */
  readonly token: string;
  /** The live view (task groups, workers), computed once per stream tick while someone watches. */
  live(): LiveView;
  /** Task spans and events as they happen. */
  readonly recorder: DashboardRecorder;
  /** The cluster, job and run the header names. */
  readonly cluster?: ClusterInfo;
  /**
   * Bench only (RECC_BENCH_GC=1): a full garbage collection of the scheduler,
   * served as `POST /api/bench/gc` (token required, 204 once done), so the
   * dashboard bench can start each measured window from the same heap.
   */
  readonly benchGc?: () => void;
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

const json = { 'content-type': 'application/json' };

/** Open dashboard connections at most (it shares the scheduler's descriptors: a flood must not starve the engine). */
export const DASHBOARD_MAX_CONNECTIONS = 64;
/** A request's headers must arrive within this time; idle sockets are swept every DASHBOARD_SWEEP_MS (Node's defaults are 60 s and 30 s). */
const DASHBOARD_HEADERS_TIMEOUT_MS = 5_000;
const DASHBOARD_SWEEP_MS = 1_000;

/**
 * The scheduler's HTTP status API: `/health` (open, for probes),
 * `/api/status` and `/api/story/<key>` (the task's transitions, each with its
 * stimulus id; both need the cluster token as `Authorization: Bearer`, the
 * `x-recc-token` header or the dashboard cookie, else 401) and the live
 * dashboard at `/` (scheduler/dashboard/; token required). Read-only: every
 * other method gets 405.
 */
export function startDashboard(host: string, port: number, source: DashboardSource): Promise<Dashboard> {
  const feed = new LiveFeed(() => source.live(), source.recorder, Date.now, undefined, source.cluster);
  const server = createServer({ headersTimeout: DASHBOARD_HEADERS_TIMEOUT_MS, requestTimeout: DASHBOARD_HEADERS_TIMEOUT_MS, connectionsCheckingInterval: DASHBOARD_SWEEP_MS }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    if (source.benchGc && req.method === 'POST' && url === '/api/bench/gc') {
      if (!authorizeApi(req, source.token)) res.writeHead(401, json).end(JSON.stringify({ error: { type: 'UnauthorizedError', message: 'the bench GC needs the cluster token' } }));
      else {
        source.benchGc();
        res.writeHead(204).end();
      }
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, json).end(JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    if (url === '/health') {
      res.writeHead(200, json).end(JSON.stringify({ status: 'ok' }));
    } else if ((url === '/api/status' || url.startsWith('/api/story/')) && !authorizeApi(req, source.token)) {
      res
        .writeHead(401, { ...json, 'www-authenticate': 'Bearer realm="recc-dashboard"' })
        .end(JSON.stringify({ error: { type: 'UnauthorizedError', message: 'the status API needs the cluster token: send Authorization: Bearer <token> or x-recc-token: <token>' } }));
    } else if (url === '/api/status') {
      res.writeHead(200, json).end(JSON.stringify(source.status()));
    } else if (url.startsWith('/api/story/')) {
      let key: string;
      try {
        key = decodeURIComponent(url.slice('/api/story/'.length));
      } catch {
        res.writeHead(400, json).end(JSON.stringify({ error: { type: 'ValidationError', message: 'the key is not valid percent-encoding', details: [{ path: 'key', message: 'not valid percent-encoding' }] } }));
        return;
      }
      res.writeHead(200, json).end(JSON.stringify({ key, story: source.story(key) }));
    } else if (handleLiveRoute(req, res, url, source.token, feed)) {
      // the live dashboard answered
    } else {
      res.writeHead(404, json).end(JSON.stringify({ error: 'not found' }));
    }
  });
  // Beyond the cap Node closes new connections before creating anything for them.
  server.maxConnections = DASHBOARD_MAX_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      const contact = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({ url: `http://${contact.includes(':') ? `[${contact}]` : contact}:${p}`, close: () => (feed.close(), closeServer(server)) });
    });
  });
}

function closeServer(server: HttpServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A full GC for the dashboard bench (worker/gc.ts takes it without leaving --expose-gc set); fails the start if the runtime refuses. */
export async function benchGcFunction(): Promise<() => void> {
  const gc = (await import('../worker/gc.ts')).acquireGc();
  if (!gc) throw new SchedulerStartError('RECC_BENCH_GC=1 but the runtime exposes no gc function');
  return gc;
}
