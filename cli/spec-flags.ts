import { Option, type Command } from 'commander';
import { ValidationError, type ErrorDetail } from '../shared/core/errors.ts';

/**
 * The spec flags shared by `recc estimate`, `recc cluster create` and
 * `recc render`. This module is light (commander and the core errors) so every command can
 * import it at top level.
 *
 * Values are kept as the user typed them until validation: a number flag that
 * does not parse as a number is passed on as the string, so `--workers -3` and
 * `--workers lots` both reach spec validation and are reported with every
 * other problem ("nWorkers: must be a positive whole number (got -3)").
 * The one exception: `--env`/`--tag` values without "=" are refused at once
 * (a `ValidationError` listing each), since no spec value could show them.
 */
export interface SpecFlagValues {
  instanceType?: string;
  workers?: string;
  workerCpu?: string;
  workerMemory?: string;
  schedulerCpu?: string;
  schedulerMemory?: string;
  resource?: string[];
  image?: string;
  sourceBranch?: string;
  env?: string[];
  tag?: string[];
  idleTimeout?: string;
  maxLifetime?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Flag → spec field, in the order the flags are registered. */
const FLAGS: Array<{ flag: string; field: string }> = [
  { flag: '--instance-type', field: 'instanceType' },
  { flag: '--workers', field: 'nWorkers' },
  { flag: '--worker-cpu', field: 'workerCpu' },
  { flag: '--worker-memory', field: 'workerMemoryGiB' },
  { flag: '--scheduler-cpu', field: 'schedulerCpu' },
  { flag: '--scheduler-memory', field: 'schedulerMemoryGiB' },
  { flag: '--resource', field: 'resources' },
  { flag: '--image', field: 'image' },
  { flag: '--source-branch', field: 'sourceGitBranch' },
  { flag: '--env', field: 'env' },
  { flag: '--tag', field: 'tags' },
  { flag: '--idle-timeout', field: 'idleTimeoutMinutes' },
  { flag: '--max-lifetime', field: 'maxLifetimeHours' },
];

/** Add the spec flags to `command` (it keeps its own `--template`, `--name`, `--json`). */
export function addSpecFlags(command: Command): Command {
  return command
    .addOption(new Option('--instance-type <type>', 'EC2 instance type of the worker nodes, e.g. c5.xlarge'))
    .addOption(new Option('--workers <n>', 'number of workers'))
    .addOption(new Option('--worker-cpu <vcpu>', 'vCPU per worker (may be fractional)'))
    .addOption(new Option('--worker-memory <gib>', 'memory per worker, GiB'))
    .addOption(new Option('--scheduler-cpu <vcpu>', 'vCPU for the scheduler'))
    .addOption(new Option('--scheduler-memory <gib>', 'memory for the scheduler, GiB'))
    .addOption(new Option('--resource <NAME=N>', 'custom worker resource, e.g. GPU=1 (repeatable)').argParser(collect))
    .addOption(new Option('--image <image>', 'container image for scheduler and workers'))
    .addOption(new Option('--source-branch <branch>', 'git branch of the research code to mount'))
    .addOption(new Option('--env <NAME=VALUE>', 'environment variable for workers (repeatable)').argParser(collect))
    .addOption(new Option('--tag <NAME=VALUE>', 'cost-allocation tag (repeatable)').argParser(collect))
    .addOption(new Option('--idle-timeout <minutes>', 'remove the cluster after this many idle minutes'))
    .addOption(new Option('--max-lifetime <hours>', 'remove the cluster after this many hours'));
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/** A number when the text is one, otherwise the text itself (validation reports it). */
export function parseNumberFlag(raw: string): number | string {
  const t = raw.trim();
  return NUMBER.test(t) ? Number(t) : raw;
}

/**
 * `name=value` flag values as a map. A value without "=" is kept with an empty
 * value (`--resource GPU` → validation reports the amount) unless
 * `requireEquals` names the field: then it is a problem (`--env FOO` would
 * silently set FOO to ""; write `--env FOO=` for that).
 */
function pairs(values: string[] | undefined, asNumber: boolean, requireEquals?: { field: string; flag: string; problems: ErrorDetail[] }): Record<string, unknown> | undefined {
  if (!values || values.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = (eq === -1 ? v : v.slice(0, eq)).trim();
    if (eq === -1 && requireEquals) {
      const { field, flag, problems } = requireEquals;
      problems.push({ path: `${field}.${key}`, message: `${flag} expected NAME=VALUE (got ${JSON.stringify(v)}); write ${flag} ${key}= for an empty value` });
      continue;
    }
    const value = eq === -1 ? '' : v.slice(eq + 1);
    out[key] = asNumber ? parseNumberFlag(value) : value;
  }
  return out;
}

/**
 * Spec overrides from parsed flag values. Fields appear in the order their
 * flags appear in `argv`, so problems are reported in the order typed.
 * Malformed `--env`/`--tag` values are pushed onto `collected` when given
 * (so the caller can report them with the spec's problems), else thrown.
 */
export function specOverridesFromFlags(
  opts: SpecFlagValues,
  argv: readonly string[] = process.argv,
  collected?: ErrorDetail[],
): Record<string, unknown> {
  const problems: ErrorDetail[] = collected ?? [];
  const byField: Record<string, unknown> = {
    instanceType: opts.instanceType,
    nWorkers: opts.workers === undefined ? undefined : parseNumberFlag(opts.workers),
    workerCpu: opts.workerCpu === undefined ? undefined : parseNumberFlag(opts.workerCpu),
    workerMemoryGiB: opts.workerMemory === undefined ? undefined : parseNumberFlag(opts.workerMemory),
    schedulerCpu: opts.schedulerCpu === undefined ? undefined : parseNumberFlag(opts.schedulerCpu),
    schedulerMemoryGiB: opts.schedulerMemory === undefined ? undefined : parseNumberFlag(opts.schedulerMemory),
    resources: pairs(opts.resource, true),
    image: opts.image,
    sourceGitBranch: opts.sourceBranch,
    env: pairs(opts.env, false, { field: 'env', flag: '--env', problems }),
    tags: pairs(opts.tag, false, { field: 'tags', flag: '--tag', problems }),
    idleTimeoutMinutes: opts.idleTimeout === undefined ? undefined : parseNumberFlag(opts.idleTimeout),
    maxLifetimeHours: opts.maxLifetime === undefined ? undefined : parseNumberFlag(opts.maxLifetime),
  };
  if (collected === undefined && problems.length > 0) throw new ValidationError('invalid flags', problems);
  const position = (field: string): number => {
    const flag = FLAGS.find((f) => f.field === field)?.flag;
    if (!flag) return Number.MAX_SAFE_INTEGER;
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    return i === -1 ? Number.MAX_SAFE_INTEGER : i;
  };
  const fields = Object.keys(byField)
    .filter((f) => byField[f] !== undefined)
    .map((f, i) => ({ f, i, p: position(f) }))
    .sort((a, b) => a.p - b.p || a.i - b.i)
    .map(({ f }) => f);
  return Object.fromEntries(fields.map((f) => [f, byField[f]]));
}

/**
 * `specOverridesFromFlags` for commands that send or render the spec: when
 * some `--env`/`--tag` values lack "=", it throws one `ValidationError` with
 * those and every field-level problem of the other flags (the spec validator
 * is loaded only then, so this module stays light).
 */
export async function specOverridesOrThrow(opts: SpecFlagValues, argv: readonly string[] = process.argv): Promise<Record<string, unknown>> {
  const problems: ErrorDetail[] = [];
  const overrides = specOverridesFromFlags(opts, argv, problems);
  if (problems.length === 0) return overrides;
  const { validateSpecInput } = await import('../shared/spec/resolve.ts');
  const all = [...validateSpecInput(overrides), ...problems];
  throw new ValidationError(`invalid cluster spec: ${all.length} problem${all.length === 1 ? '' : 's'}`, all);
}
