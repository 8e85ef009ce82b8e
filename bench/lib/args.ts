import { ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import { GROUPS, type Group } from './measures.ts';

/** Options of `npm run bench -- …`. */
export interface BenchOptions {
  /** One JSON object per measure per line on stdout (progress goes to stderr). */
  json: boolean;
  /** Also print the table as Markdown (for the README). */
  markdown: boolean;
  /** Smaller sizes, for a fast smoke run. */
  quick: boolean;
  /** Groups to run, in catalogue order. */
  only: Group[];
  dask: boolean;
  recc: boolean;
  /** Per-group time limit, seconds. */
  timeoutS: number;
  /** Multiplies recc task counts (for profiling steady state); 1 for reported figures. */
  scale: number;
  /** Before each group, wait up to this many seconds for other processes to leave the CPU (0: don't wait). */
  settleS: number;
  /** Write CPU profiles of the recc processes here (`node --cpu-prof`). */
  profileDir: string | null;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --json               one JSON object per measure per line: {name, recc, dask, ratio, unit, target?, met?}
  --markdown           also print the table as Markdown
  --quick              smaller sizes (about a tenth), for a smoke run
  --only a,b           run only these groups: ${GROUPS.join(', ')}
  --no-dask            skip Dask
  --no-recc            skip recc (Dask and the loopback ceiling only)
  --timeout S          time limit per group in seconds (default 240)
  --settle S           before each group wait up to S seconds for the machine to go quiet
                       (other processes below 20% of the cores; default 10, 0 = never wait)
  --scale X            multiply recc task counts by X (for profiles of the steady state)
  --profile DIR        write a V8 CPU profile of every recc process into DIR/<group>/
  -h, --help           this text`;

export function parseArgs(argv: readonly string[]): BenchOptions {
  const opts: BenchOptions = {
    json: false,
    markdown: false,
    quick: false,
    only: [...GROUPS],
    dask: true,
    recc: true,
    timeoutS: 240,
    settleS: 10,
    scale: 1,
    profileDir: null,
    help: false,
  };
  const problems: ErrorDetail[] = [];
  const value = (i: number, flag: string): string | undefined => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) {
      problems.push({ path: flag, message: 'needs a value' });
      return undefined;
    }
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const take = (): string | undefined => {
      if (inline !== undefined) return inline;
      const v = value(i, flag);
      if (v !== undefined) i++;
      return v;
    };
    switch (flag) {
      case '--json':
        opts.json = true;
        break;
      case '--markdown':
        opts.markdown = true;
        break;
      case '--quick':
        opts.quick = true;
        break;
      case '--no-dask':
        opts.dask = false;
        break;
      case '--no-recc':
        opts.recc = false;
        break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      case '--only': {
        const v = take();
        if (v === undefined) break;
        const names = v.split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = names.filter((n) => !(GROUPS as readonly string[]).includes(n));
        for (const n of unknown) problems.push({ path: '--only', message: `unknown group "${n}"; known: ${GROUPS.join(', ')}` });
        if (names.length === 0) problems.push({ path: '--only', message: 'names no group' });
        opts.only = GROUPS.filter((g) => names.includes(g));
        break;
      }
      case '--timeout': {
        const v = take();
        if (v === undefined) break;
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) problems.push({ path: '--timeout', message: `must be a positive number of seconds, got "${v}"` });
        else opts.timeoutS = n;
        break;
      }
      case '--settle': {
        const v = take();
        if (v === undefined) break;
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) problems.push({ path: '--settle', message: `must be a number of seconds ≥ 0, got "${v}"` });
        else opts.settleS = n;
        break;
      }
      case '--scale': {
        const v = take();
        if (v === undefined) break;
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) problems.push({ path: '--scale', message: `must be a positive number, got "${v}"` });
        else opts.scale = n;
        break;
      }
      case '--profile': {
        const v = take();
        if (v !== undefined) opts.profileDir = v;
        break;
      }
      default:
        problems.push({ path: a, message: 'unknown option' });
    }
  }
  if (!opts.dask && !opts.recc) problems.push({ path: '--no-dask', message: '--no-dask and --no-recc together leave nothing to run' });
  if (problems.length > 0) throw new ValidationError('invalid bench options', problems);
  return opts;
}
