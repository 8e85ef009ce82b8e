/**
 * Environment every supervisor gives a worker process (LocalCluster, the
 * local backend, the EKS pod spec), as Dask's nanny does with
 * `pre-spawn-environ`. glibc raises its mmap threshold after the first large
 * free, so later large Buffers come from the heap, whose freed memory is not
 * returned to the OS: RSS stays high and the memory limit (enforced on RSS,
 * worker/memory.ts) would end a healthy worker. Measured: 32 results of
 * 32 MiB under a 256 MiB limit, RSS 264 MiB with nothing held and two kills;
 * with this environment, none. Fixing the threshold at 1 MiB keeps large
 * allocations in mmap, returned at once when freed. glibc reads these at
 * process start, so the worker cannot set them for itself.
 */
export const WORKER_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: '65536' });
