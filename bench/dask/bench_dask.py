"""Dask distributed side of `npm run bench`.

Runs the same measures as bench/recc/measure.ts on a Dask LocalCluster with the
same topology as recc: 2 worker processes x 1 thread, plus the client (Dask's
LocalCluster runs its scheduler inside the client process).

Run with Debian's interpreter: /usr/bin/python3 bench/dask/bench_dask.py
  --saturation stock|inf   distributed.scheduler.worker-saturation (stock = 1.1)
  --only a,b               measures to run (default: all)
  --quick                  smaller sizes
  --out FILE               JSON lines are appended here (default: stdout)

Each result line: {"name", "value", "unit", "config", ...extra}.

Keys are Dask's default (pure=True, deterministic) with arguments no earlier
task used; pure=False only where arguments repeat (transfer, CPU), as on the
recc side.
"""

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time
import warnings

import dask
from dask import delayed
from distributed import Client, LocalCluster, wait

MEASURES = ["map_noop", "tree_reduce", "latency", "transfer", "start", "cpu_efficiency", "dataframe"]


def noop(x):
    return x


def add(a, b):
    return a + b


def make_payload(n, salt):
    # Incompressible bytes (Dask would lz4-compress zeros) in a NumPy array,
    # Dask's fastest, zero-copy serialisation path.
    import numpy as np

    return np.frombuffer(np.random.default_rng(salt).bytes(n), dtype=np.uint8)


def length(b):
    return len(b)


def burn(n):
    x = 0
    for i in range(n):
        x = (x + i * 7) % 1000003
    return x


class Out:
    def __init__(self, path, config):
        self.path = path
        self.config = config

    def emit(self, name, value, unit, **extra):
        line = json.dumps({"name": name, "value": value, "unit": unit, "config": self.config, **extra})
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        else:
            print(line, flush=True)
        print(f"[dask {self.config}] {name} = {value} {unit}", file=sys.stderr, flush=True)


def new_cluster():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    client.wait_for_workers(2)
    return cluster, client


def warm_up(client):
    client.gather(client.map(noop, range(-200, 0)))
    client.gather(client.map(burn, [1000] * 8, pure=False))


def measure_map(client, out, n, reps):
    warm_up(client)
    rates = []
    for r in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        # fresh arguments every repetition, so no key is served from an earlier result
        futures = client.map(noop, range(r * n, r * n + n))
        results = client.gather(futures)
        elapsed = time.perf_counter() - t0
        assert results[-1] == r * n + n - 1 and len(results) == n
        del futures, results
        rates.append(n / elapsed)
    out.emit("map_noop", statistics.median(rates), "tasks/s", tasks=n, reps=reps, samples=[round(x) for x in rates])


def measure_tree(client, out, leaves, reps):
    warm_up(client)
    rates = []
    detail = {}
    for r in range(reps):
        gc.collect()
        base = r * leaves
        t0 = time.perf_counter()
        level = [delayed(noop)(base + i) for i in range(leaves)]
        tasks = leaves
        while len(level) > 1:
            nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            tasks += len(nxt)
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        t_built = time.perf_counter()
        result = client.compute(level[0]).result()
        elapsed = time.perf_counter() - t0
        assert result == leaves * base + leaves * (leaves - 1) // 2, result
        rates.append(tasks / elapsed)
        if r == 0:
            detail = dict(tasks=tasks, leaves=leaves, seconds=elapsed, buildSeconds=t_built - t0)
    out.emit("tree_reduce", statistics.median(rates), "tasks/s", reps=reps, samples=[round(x) for x in rates], **detail)


def percentile(sorted_values, p):
    # nearest-rank, same definition as bench/lib/stats.ts
    if not sorted_values:
        return float("nan")
    import math

    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def measure_latency(client, out, n):
    warm_up(client)
    for i in range(50):
        client.submit(noop, -1 - i).result()
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.submit(noop, i).result()
        samples.append((time.perf_counter() - t0) * 1000.0)
        assert r == i
    s = sorted(samples)
    out.emit("latency_p50", percentile(s, 50), "ms", samples=n)
    out.emit("latency_p99", percentile(s, 99), "ms", samples=n)


def measure_transfer(client, out, nbytes, reps):
    warm_up(client)
    workers = sorted(client.scheduler_info()["workers"].keys())
    src, dst = workers[0], workers[1]
    walls = []
    bases = []
    internal = []
    for rep in range(reps + 1):
        a = client.submit(make_payload, nbytes, rep, workers=[src], allow_other_workers=False, pure=False)
        wait(a)
        # the same round trip without a dependency, to separate transfer from scheduling
        t0 = time.perf_counter()
        client.submit(length, b"x", workers=[dst], allow_other_workers=False, pure=False).result()
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = client.submit(length, a, workers=[dst], allow_other_workers=False, pure=False)
        n = b.result()
        wall = time.perf_counter() - t0
        assert n == nbytes
        if rep > 0:  # the first repetition is a warm-up
            walls.append(wall)
            bases.append(base)
        del a, b
    logs = client.run(lambda dask_worker: list(dask_worker.transfer_incoming_log), workers=[dst])
    for entry in logs[dst]:
        if entry["total"] >= nbytes:
            internal.append(entry["bandwidth"] / 1e6)
    med = statistics.median(walls)
    net = med - statistics.median(bases)
    out.emit(
        "transfer",
        nbytes / med / 1e6,
        "MB/s",
        bytes=nbytes,
        reps=reps,
        medianSeconds=med,
        netMBps=nbytes / net / 1e6 if net > 0 else None,
        method="wall time of a dependent task pinned to the other worker",
        workerLogMBps=statistics.median(internal[1:] or internal) if internal else None,
    )


def measure_start(out, reps):
    samples = []
    # one untimed start first (as on the recc side): warms imports and the file cache
    for i in range(-1, reps):
        t0 = time.perf_counter()
        cluster, client = new_cluster()
        if i >= 0:
            samples.append(time.perf_counter() - t0)
        client.close()
        cluster.close()
    out.emit("start", statistics.median(samples), "s", reps=reps, samples=samples)


def calibrate_burn(target_s):
    # CPU time of this thread (the scheduler runs in another thread of this
    # process), as on the recc side: other processes cannot inflate it
    n = 10_000
    while True:
        t0 = time.thread_time()
        burn(n)
        dt = time.thread_time() - t0
        if dt > 0.02:
            return max(1, int(n * target_s / dt))
        n *= 2


def cpu_totals():
    # aggregate busy and total jiffies from /proc/stat (same as bench/lib/proc.ts)
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def measure_cpu(client, out, tasks, task_s):
    warm_up(client)
    n = calibrate_burn(task_s)
    # serial reference: CPU time of the same work in one thread of this process
    t0 = time.thread_time()
    for _ in range(tasks):
        burn(n)
    serial = time.thread_time() - t0
    client.gather(client.map(burn, [n] * 4, pure=False))
    pids = [os.getpid()] + list(client.run(os.getpid).values())
    # the machine is shared: up to 3 attempts, keeping the one other processes
    # disturbed least (the recc side does the same)
    best = None
    attempts = 0
    while attempts < 3 and not (best and best[1] < 0.1):
        attempts += 1
        ours0 = sum(proc_cpu_seconds(p) for p in pids)
        busy0, total0 = cpu_totals()
        t0 = time.perf_counter()
        client.gather(client.map(burn, [n] * tasks, pure=False))
        parallel = time.perf_counter() - t0
        busy1, total1 = cpu_totals()
        ours = (sum(proc_cpu_seconds(p) for p in pids) - ours0) / parallel
        machine = (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count()
        other_cores = max(0.0, machine - ours)
        if best is None or other_cores < best[1]:
            best = (parallel, other_cores)
    parallel, other_cores = best
    out.emit(
        "cpu_efficiency",
        serial / (2 * parallel),
        "ratio",
        tasks=tasks,
        taskSeconds=serial / tasks,
        serialSeconds=serial,
        parallelSeconds=parallel,
        otherCores=round(other_cores, 2),
        attempts=attempts,
    )


def make_trades(part, rows, securities, days):
    # the trades table of examples/dataframe.ts (same columns and sizes, NumPy random numbers)
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(part + 1)
    s = rng.integers(0, securities, rows)
    date = rng.integers(0, days, rows).astype("int32")
    price = np.round(50 + (s % 97) + date * 0.05 + rng.random(rows) * 2, 2)
    qty = rng.integers(1, 501, rows).astype("int32")
    security = pd.Series(["SEC%05d" % v for v in s], dtype="object")
    return pd.DataFrame({"security": security, "date": date, "price": price, "qty": qty})


def per_security(g):
    import pandas as pd

    return pd.DataFrame({"n": [len(g)], "mean": [g["price"].mean()]})


def worker_peak_rss_mib(client):
    import resource

    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return max(peaks.values()) / 1024


def measure_dataframe(client, out, sizes):
    # set_index and groupby().apply on dask.dataframe (its default task-based shuffle), each persisted and timed
    import dask.dataframe as dd
    from distributed import wait

    for rows in sizes:
        partitions = max(8, round(rows / 250_000))
        per = [rows * (i + 1) // partitions - rows * i // partitions for i in range(partitions)]
        df = dd.from_map(lambda i: make_trades(i, per[i], 2000, 504), list(range(partitions))).persist()
        wait(df)
        nbytes = int(df.memory_usage(deep=True).sum().compute())
        label = f"{rows // 1_000_000}M"
        extra = {"rows": rows, "partitions": partitions, "bytes": nbytes, "workers": 2}
        t0 = time.perf_counter()
        indexed = df.set_index("security").persist()
        wait(indexed)
        set_index_s = time.perf_counter() - t0
        out.emit(f"df_set_index_{label}", set_index_s, "s", **extra)
        out.emit(f"df_set_index_{label}_mbps", nbytes / 1e6 / set_index_s, "MB/s", **extra)
        del indexed
        t0 = time.perf_counter()
        applied = df.groupby("security").apply(per_security, meta={"n": "int64", "mean": "float64"}).persist()
        wait(applied)
        apply_s = time.perf_counter() - t0
        out.emit(f"df_groupby_apply_{label}", apply_s, "s", **extra)
        out.emit(f"df_groupby_apply_{label}_mbps", nbytes / 1e6 / apply_s, "MB/s", **extra)
        out.emit(f"df_peak_rss_{label}", worker_peak_rss_mib(client), "MiB", **extra, note="largest worker ru_maxrss over both operations")
        del applied, df
        client.restart()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--saturation", choices=["stock", "inf"], default="stock")
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    only = [m for m in args.only.split(",") if m] or MEASURES
    out = Out(args.out, args.saturation)
    warnings.filterwarnings("ignore")
    if args.saturation == "inf":
        dask.config.set({"distributed.scheduler.worker-saturation": float("inf")})

    q = args.quick
    sizes = {
        "map": 2_000 if q else 20_000,
        "leaves": 1_000 if q else 10_000,
        "latency": 100 if q else 500,
        "bytes": 100 * 1024 * 1024,
        "transfer_reps": 2 if q else 5,
        # median of 3 for the throughput measures; stock Dask runs at ~600 tasks/s, so once
        "throughput_reps": 1 if (q or args.saturation == "stock") else 3,
        "start_reps": 1 if q else 3,
        "cpu_tasks": 16 if q else 64,
    }

    failed = []

    def attempt(name, fn, *fn_args):
        # one failing measure is reported and the others still run
        if name not in only:
            return
        try:
            fn(*fn_args)
        except Exception as exc:  # noqa: BLE001
            failed.append(name)
            print(f"[dask {args.saturation}] {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    attempt("start", measure_start, out, sizes["start_reps"])
    cluster, client = new_cluster()
    try:
        attempt("map_noop", measure_map, client, out, sizes["map"], sizes["throughput_reps"])
        attempt("tree_reduce", measure_tree, client, out, sizes["leaves"], sizes["throughput_reps"])
        attempt("latency", measure_latency, client, out, sizes["latency"])
        attempt("transfer", measure_transfer, client, out, sizes["bytes"], sizes["transfer_reps"])
        attempt("cpu_efficiency", measure_cpu, client, out, sizes["cpu_tasks"], 0.05)
        attempt("dataframe", measure_dataframe, client, out, [1_000_000] if q else [5_000_000, 20_000_000])
    finally:
        client.close()
        cluster.close()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
