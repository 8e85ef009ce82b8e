/**
 * The catalogue of measures `npm run bench` reports: what each one is, its
 * unit, which direction is better, the issue-4 target, and one line on what
 * the figure means for a user. Groups are the units the runners execute
 * (one child process per group on the recc side).
 */

export const GROUPS = [
  'loopback',
  'start',
  'map_noop',
  'tree_reduce',
  'latency',
  'transfer',
  'cpu_efficiency',
  'graph_1m',
  'workers_200',
  'dashboard',
  'data',
  'sqs',
  'skew',
  'transfer_many',
  'dataframe',
  'start_time',
] as const;
export type Group = (typeof GROUPS)[number];

/**
 * Groups that need more than the per-group time limit (`--timeout`): the
 * limit is multiplied by this. start_time starts 61 local clusters (20 creates
 * × 3 sizes + a warm-up) and deletes each.
 */
export const GROUP_BUDGET: Partial<Record<Group, number>> = { start_time: 4, dashboard: 2 };

/** Groups that also run on Dask (the rest are recc-only or a reference). */
export const DASK_GROUPS: readonly Group[] = ['start', 'map_noop', 'tree_reduce', 'latency', 'transfer', 'cpu_efficiency', 'dataframe'];

export type Better = 'higher' | 'lower';

export interface Target {
  op: '>=' | '<=';
  /** Fixed threshold; absent for targets computed from other figures (transfer). */
  value?: number;
  /** How the target reads in the table. */
  text: string;
}

export interface MeasureDef {
  name: string;
  group: Group;
  label: string;
  unit: string;
  better: Better;
  /** True when Dask reports the same measure. */
  compared: boolean;
  /** A reference figure (the raw loopback ceiling), not a property of either system. */
  reference?: boolean;
  target?: Target;
  meaning: string;
}

export const MEASURES: readonly MeasureDef[] = [
  {
    name: 'map_noop',
    group: 'map_noop',
    label: 'map 20,000 no-op tasks',
    unit: 'tasks/s',
    better: 'higher',
    compared: true,
    target: { op: '>=', value: 50_000, text: '≥ 50,000' },
    meaning: 'how small a task can be before scheduling dominates: at N tasks/s each task costs 2/N core-seconds of overhead',
  },
  {
    name: 'tree_reduce',
    group: 'tree_reduce',
    label: 'pairwise reduction tree, 10,000 leaves',
    unit: 'tasks/s',
    better: 'higher',
    compared: true,
    target: { op: '>=', value: 40_000, text: '≥ 40,000' },
    meaning: 'throughput of a graph with dependencies (delayed), including building the graph on the client',
  },
  {
    name: 'latency_p50',
    group: 'latency',
    label: 'submit→result p50 (500 sequential)',
    unit: 'ms',
    better: 'lower',
    compared: true,
    target: { op: '<=', value: 0.5, text: '≤ 0.5' },
    meaning: 'the wait for one small interactive task, e.g. in a notebook loop',
  },
  {
    name: 'latency_p99',
    group: 'latency',
    label: 'submit→result p99 (500 sequential)',
    unit: 'ms',
    better: 'lower',
    compared: true,
    target: { op: '<=', value: 2, text: '≤ 2' },
    meaning: 'the worst wait one interactive step in a hundred sees',
  },
  {
    name: 'transfer',
    group: 'transfer',
    label: '100 MiB result worker→worker',
    unit: 'MB/s',
    better: 'higher',
    compared: true,
    target: { op: '>=', text: '≥ Dask and ≥ 50% raw' },
    meaning: 'how fast a join or shuffle stage can pull a large dependency from another worker',
  },
  {
    name: 'loopback_raw',
    group: 'loopback',
    label: 'raw loopback socket copy (ceiling)',
    unit: 'MB/s',
    better: 'higher',
    compared: false,
    reference: true,
    meaning: 'the physical ceiling for worker→worker transfer on this machine (Node TCP, 1 MiB writes, two processes)',
  },
  {
    name: 'loopback_rtt',
    group: 'loopback',
    label: 'raw loopback round trip, 64 B (floor)',
    unit: 'ms',
    better: 'lower',
    compared: false,
    reference: true,
    meaning: 'one message there and back between two Node processes; submit→result needs two of these (four hops), so twice this is its floor here',
  },
  {
    name: 'start',
    group: 'start',
    label: 'cluster start to ready, 2 workers',
    unit: 's',
    better: 'lower',
    compared: true,
    target: { op: '<=', value: 0.3, text: '≤ 0.3' },
    meaning: 'the fixed cost of `LocalCluster.start` + connect before the first task runs',
  },
  {
    name: 'cpu_efficiency',
    group: 'cpu_efficiency',
    label: '64 × 50 ms CPU tasks: parallel efficiency',
    unit: 'ratio',
    better: 'higher',
    compared: true,
    target: { op: '>=', value: 0.95, text: '≥ 0.95' },
    meaning: 'the share of the 2 cores that does useful work on CPU-bound tasks (serial time / (2 × parallel time))',
  },
  {
    name: 'graph_1m_tasks_per_s',
    group: 'graph_1m',
    label: '1,000,000-task graph (2 stages): throughput',
    unit: 'tasks/s',
    better: 'higher',
    compared: false,
    meaning: 'throughput when a whole backfill is submitted at once',
  },
  {
    name: 'graph_1m_scheduler_peak_rss',
    group: 'graph_1m',
    label: '1,000,000-task graph: scheduler peak RSS',
    unit: 'MiB',
    better: 'lower',
    compared: false,
    target: { op: '<=', value: 2048, text: '≤ 2,048 (2 GiB)' },
    meaning: 'the scheduler memory a million-task job needs (VmHWM of the scheduler process)',
  },
  {
    name: 'graph_1m_rss_per_task',
    group: 'graph_1m',
    label: '1,000,000-task graph: scheduler RSS per task',
    unit: 'bytes/task',
    better: 'lower',
    compared: false,
    meaning: 'scheduler memory per task in flight (peak minus idle RSS, divided by tasks)',
  },
  {
    name: 'workers_200_cpu_per_task',
    group: 'workers_200',
    label: '200 connected workers: scheduler CPU per task',
    unit: 'µs/task',
    better: 'lower',
    compared: false,
    meaning: 'scheduler cost per task on a wide cluster (user + system CPU of the scheduler process)',
  },
  {
    name: 'workers_200_tasks_per_s',
    group: 'workers_200',
    label: '200 connected workers: throughput',
    unit: 'tasks/s',
    better: 'higher',
    compared: false,
    meaning: 'throughput when 200 (fake, instant) workers share the load',
  },
  {
    name: 'dashboard_cpu_share',
    group: 'dashboard',
    label: 'live dashboard: share of the scheduler CPU (200 workers, one viewer)',
    unit: '%',
    better: 'lower',
    compared: false,
    target: { op: '<=', value: 5, text: '≤ 5 %' },
    meaning: 'what watching the dashboard costs the scheduler while 200 workers run a fast no-op map: median over 30 ABBA pairs of maps (watched/unwatched, each after a forced full GC of the scheduler) of the extra event-loop CPU per task over the watched CPU per task, with its IQR (extra: the dashboard\'s own account of its CPU, the viewer\'s frame and span counts)',
  },
  {
    name: 'dashboard_tasks_per_s',
    group: 'dashboard',
    label: 'live dashboard: throughput while watched (200 workers)',
    unit: 'tasks/s',
    better: 'higher',
    compared: false,
    meaning: 'the task rate the dashboard was measured under (the issue asks for 50,000 tasks/s)',
  },
  ...dataMeasures(),
  ...dataframeMeasures(),
  ...sqsMeasures(),
  ...startTimeMeasures(),
  // Issue 19: work stealing on a skewed workload, and memory while fetching many results.
  {
    name: 'skew_vs_ideal',
    group: 'skew',
    label: '1,000 tasks of 1–200 ms on one worker’s data: time over ideal (2 workers)',
    unit: 'ratio',
    better: 'lower',
    compared: false,
    target: { op: '<=', value: 1.1, text: '≤ 1.10' },
    meaning: 'how close work stealing gets a skewed job to perfect balance (1.0 = the ideal, max(sum/2, longest task))',
  },
  {
    name: 'transfer_many_rss',
    group: 'transfer_many',
    label: '1 GiB as 1,024 × 1 MiB results fetched worker→worker: RSS growth / data',
    unit: 'ratio',
    better: 'lower',
    compared: false,
    target: { op: '<=', value: 2, text: '< 2' },
    meaning: 'memory a worker needs to pull many results at once (1.0 = exactly the data)',
  },
];

/** Issue 19 #5: create→RUNNING on the local stack (bench/recc/start-time-measures.ts). */
function startTimeMeasures(): MeasureDef[] {
  const out: MeasureDef[] = [];
  for (const n of [1, 4, 16]) {
    for (const p of [50, 95]) {
      out.push({
        name: `start_time_p${p}_${n}w`,
        group: 'start_time',
        label: `create→RUNNING p${p}, ${n} worker${n === 1 ? '' : 's'} (local stack)`,
        unit: 's',
        better: 'lower',
        compared: false,
        meaning: 'POST /clusters until the record says RUNNING, through the API, the provisioning queue, the provisioner and the local-process backend; stages in the JSON (stagesP50Ms)',
      });
    }
  }
  return out;
}

/** Issue 12: tasks over SQS (fauxqs on loopback), bench/recc/sqs-measures.ts. */
function sqsMeasures(): MeasureDef[] {
  const m = (name: string, label: string, unit: string, better: Better, meaning: string, target?: Target): MeasureDef => ({ name, group: 'sqs', label, unit, better, compared: false, meaning, ...(target ? { target } : {}) });
  return [
    m('sqs_map_noop', 'map 10,000 no-op tasks over SQS', 'tasks/s', 'higher', 'throughput for a client outside the cluster network (many tasks per message)', { op: '>=', value: 2_000, text: '≥ 2,000' }),
    m('sqs_latency_p50', 'submit→result p50 over SQS', 'ms', 'lower', 'the wait for one small task through the request and reply queues', { op: '<=', value: 50, text: '≤ 50' }),
    m('sqs_requests_per_1000_tasks', 'SQS + S3 requests per 1,000 tasks', 'requests', 'lower', 'billed requests (64 KiB chunks) of a large map, both sides'),
    m('sqs_cost_per_million_tasks', 'SQS + S3 cost per million tasks', '$', 'lower', 'AWS list price of those requests per million tasks'),
  ];
}

/** Issue 14: columnar tables on a 1,000,000-row × 6-column table (bench/recc/data.ts). */
function dataMeasures(): MeasureDef[] {
  const m = (name: string, label: string, unit: string, meaning: string, target?: Target, better: Better = 'higher'): MeasureDef => ({ name, group: 'data', label, unit, better, compared: false, meaning, ...(target ? { target } : {}) });
  return [
    m('data_parquet_write', 'write Parquet, 1M rows × 6 cols (local store)', 'MB/s', 'Arrow data written as Parquet (SNAPPY, 100k-row groups, statistics) per second'),
    m('data_parquet_read', 'read Parquet, 1M rows × 6 cols', 'MB/s', 'Arrow data decoded from Parquet per second, single-threaded'),
    m('data_parquet_read_rows', 'read Parquet, 1M rows × 6 cols', 'rows/s', 'rows decoded per second on one thread', { op: '>=', value: 2_000_000, text: '≥ 2,000,000' }),
    m('data_arrow_write', 'write Arrow IPC file, 1M rows × 6 cols', 'MB/s', 'Arrow IPC written per second'),
    m('data_arrow_read', 'read Arrow IPC file, 1M rows × 6 cols', 'MB/s', 'Arrow IPC read per second (zero-copy views)'),
    m('data_parquet_projected_read', 'read 2 of 6 Parquet columns', 'rows/s', 'a projected read fetches and decodes only its column chunks'),
    m('data_fallthrough_local', 'fall-through read served from FP_LOCAL', 'ms', 'a Parquet file read through [FP_LOCAL, S3] when the cache has it', undefined, 'lower'),
    m('data_fallthrough_s3', 'fall-through read served from S3 (fauxqs)', 'ms', 'the same read when only S3 has it (copied to FP_LOCAL on the way)', undefined, 'lower'),
    m('data_ipc_handoff', 'Arrow table worker→worker (IPC)', 'MB/s', 'a task on worker B consuming a table made on worker A'),
    m('data_ipc_handoff_ratio', 'table handoff / raw bytes handoff', 'ratio', 'table handoff against raw bytes of the same size on the same path', { op: '>=', value: 0.5, text: '≥ 0.5' }),
  ];
}

/** Issue 15: setIndex and groupBy().apply on the trades table (bench/recc/dataframe-measures.ts, bench_dask.py measure_dataframe). */
function dataframeMeasures(): MeasureDef[] {
  const out: MeasureDef[] = [];
  for (const size of ['1M', '5M', '20M']) {
    const m = (name: string, label: string, unit: string, better: Better, meaning: string, target?: Target): MeasureDef => ({ name, group: 'dataframe', label, unit, better, compared: true, meaning, ...(target ? { target } : {}) });
    out.push(
      m(`df_set_index_${size}`, `setIndex('security'), ${size} trades`, 's', 'lower', 'sample pass + range shuffle of the whole table, persisted'),
      m(`df_set_index_${size}_mbps`, `setIndex shuffle, ${size} trades`, 'MB/s', 'higher', 'bytes of the table shuffled per second'),
      m(`df_groupby_apply_${size}`, `groupBy('security').apply, ${size} trades`, 's', 'lower', 'hash shuffle + a function per security, persisted'),
      m(`df_groupby_apply_${size}_mbps`, `groupBy().apply shuffle, ${size} trades`, 'MB/s', 'higher', 'bytes of the table shuffled per second'),
      m(`df_peak_rss_${size}`, `peak worker RSS, ${size} trades`, 'MiB', 'lower', 'the largest worker high-water mark over both operations'),
    );
  }
  return out;
}

export function measureByName(name: string): MeasureDef | undefined {
  return MEASURES.find((m) => m.name === name);
}
