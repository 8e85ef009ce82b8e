import type { ErrorDetail } from '../core/errors.ts';
import type { DaemonsetOverhead } from '../catalog/allocatable.ts';
import { getInstanceType, isKnownInstanceType } from '../catalog/instances.ts';
import { fitProblems } from '../plan/fit.ts';
import { DEFAULT_SPEC, defaultSpec } from './defaults.ts';
import { SpecValidationError } from './errors.ts';
import { ADAPTIVE_DEFAULTS, RESERVED_MAP_KEYS, SPEC_FIELDS, clusterSpecInputSchema, clusterSpecSchema, issuesToDetails } from './schema.ts';
import { defaultTemplatesDir, readTemplate } from './templates.ts';
import type { ClusterSpec, ClusterSpecInput } from './types.ts';

/**
 * Spec resolution: built-in defaults, then a template (by name) or a YAML
 * file (by path), then explicit overrides. Later layers win field by field;
 * the map fields (`resources`, `env`, `tags`) merge key by key. In the
 * overrides a field set to `null` goes back to its default (optional fields are
 * removed) and a map key set to `null` is removed; `undefined` means "not
 * given". Templates and files take plain values only.
 *
 * The merged result is validated as a whole and every problem is reported at
 * once in a `SpecValidationError`.
 */
export interface ResolveRequest {
  /** Template name from `templates/`, or a path to a YAML file. */
  template?: string;
  overrides?: Record<string, unknown>;
}

export interface ResolveOptions {
  templatesDir?: string;
  /** Used to check that a worker fits a node; defaults as in `allocatable`. */
  daemonsetOverhead?: Partial<DaemonsetOverhead>;
}

const MAP_FIELDS = new Set<string>(['resources', 'env', 'tags']);

export function resolveSpec(request: ResolveRequest = {}, options: ResolveOptions = {}): ClusterSpec {
  const problems: ErrorDetail[] = [];
  const layers: Record<string, unknown>[] = [];

  if (request.template !== undefined) {
    const layer = templateLayer(request.template, options.templatesDir ?? defaultTemplatesDir(), problems);
    if (layer) layers.push(layer);
  }
  if (request.overrides !== undefined) {
    const overrides = withoutUndefined(request.overrides);
    const found = validateSpecInput(overrides);
    problems.push(...found);
    layers.push(validPart(overrides, found));
  }

  const merged = mergeLayers(defaultSpec(), layers);
  // Adaptive fields left out take their defaults (the layer replaces `adaptive` as a whole).
  if (isPlainObject(merged.adaptive)) {
    merged.adaptive = { ...ADAPTIVE_DEFAULTS, ...merged.adaptive };
    // An adaptive cluster nobody gave a size starts at its minimum (one worker when that is 0).
    const min = merged.adaptive.minimum;
    if (!layers.some((l) => l.nWorkers !== undefined && l.nWorkers !== null) && typeof min === 'number' && Number.isInteger(min) && min >= 0) merged.nWorkers = Math.max(1, min);
  }
  const pathsWithProblems = new Set(problems.map((p) => p.path));
  for (const p of validateSpec(merged, options)) {
    if (!pathsWithProblems.has(p.path)) problems.push(p);
  }
  if (problems.length > 0) throw new SpecValidationError(problems);
  return merged;
}

/**
 * Field-level problems of a partial spec (a template body, a YAML file, API
 * overrides): unknown fields with the nearest valid name, wrong types, bad
 * counts and sizes, unknown instance types. `null` is accepted ("back to the
 * default"). Paths are prefixed with `prefix` (e.g. `spec` → `spec.nWorkers`).
 */
export function validateSpecInput(input: unknown, prefix = ''): ErrorDetail[] {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const nonNull = Object.fromEntries(
      Object.entries(input as Record<string, unknown>)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, MAP_FIELDS.has(k) ? dropNullValues(v) : v]),
    );
    const reserved = reservedKeyProblems(input as Record<string, unknown>, prefix);
    const parsed = clusterSpecInputSchema.safeParse(nonNull);
    if (parsed.success && reserved.length === 0) return [];
    const found = parsed.success ? [] : issuesToDetails(parsed.error.issues, prefix);
    return inInputOrder([...reserved, ...found], Object.keys(input), prefix);
  }
  const parsed = clusterSpecInputSchema.safeParse(input);
  return parsed.success ? [] : issuesToDetails(parsed.error.issues, prefix, input);
}

/**
 * Every problem of a complete spec: field-level problems, and whether one
 * worker and the scheduler fit a node of the instance type (with the largest
 * size that fits) and GPUs are asked of a type that has them.
 */
export function validateSpec(spec: unknown, options: ResolveOptions = {}): ErrorDetail[] {
  const reserved = isPlainObject(spec) ? reservedKeyProblems(spec, '') : [];
  const parsed = clusterSpecSchema.safeParse(spec);
  if (!parsed.success || reserved.length > 0) {
    const problems = [...reserved, ...(parsed.success ? [] : issuesToDetails(parsed.error.issues, '', spec))];
    // Fit checks still help when the failing fields are unrelated to size.
    const s = spec as Partial<ClusterSpec> | null;
    if (s && typeof s === 'object' && typeof s.instanceType === 'string' && isKnownInstanceType(s.instanceType)) {
      const sizeFieldsOk = ['workerCpu', 'workerMemoryGiB', 'schedulerCpu', 'schedulerMemoryGiB', 'resources'].every(
        (f) => !problems.some((p) => p.path === f || p.path.startsWith(`${f}.`)),
      );
      if (sizeFieldsOk) problems.push(...fitProblems(s as ClusterSpec, getInstanceType(s.instanceType), options));
    }
    return problems;
  }
  return [...fitProblems(parsed.data, getInstanceType(parsed.data.instanceType), options), ...adaptiveProblems(parsed.data)];
}

/** `adaptive` against itself and the starting size: minimum ≤ nWorkers ≤ maximum. */
function adaptiveProblems(spec: ClusterSpec): ErrorDetail[] {
  const a = spec.adaptive;
  if (!a) return [];
  if (a.minimum > a.maximum) return [{ path: 'adaptive.minimum', message: `must be at most adaptive.maximum (${a.maximum}) (got ${a.minimum})` }];
  if (spec.nWorkers > a.maximum) return [{ path: 'nWorkers', message: `must be at most adaptive.maximum (${a.maximum}) on an adaptive cluster (got ${spec.nWorkers})` }];
  if (spec.nWorkers < a.minimum) return [{ path: 'nWorkers', message: `must be at least adaptive.minimum (${a.minimum}) on an adaptive cluster (got ${spec.nWorkers})` }];
  return [];
}

/** Sort problems by the position of their top-level field in the input (the order the user wrote them). */
function inInputOrder(problems: ErrorDetail[], keys: string[], prefix: string): ErrorDetail[] {
  const strip = prefix ? prefix.length + 1 : 0;
  const rank = (p: ErrorDetail) => {
    const i = keys.indexOf(p.path.slice(strip).split('.')[0] ?? '');
    return i === -1 ? keys.length : i;
  };
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i)
    .map(({ p }) => p);
}

/**
 * Merge partial specs over a base: later wins; maps merge by key; `null` resets.
 * Fields and map entries are collected in `Map`s, not objects, so no key a
 * user wrote (`__proto__`, `constructor`, `toString`) can reach an object
 * internal; `Object.fromEntries` then defines plain own properties.
 */
export function mergeLayers(base: ClusterSpec, layers: Record<string, unknown>[]): ClusterSpec {
  const out = new Map<string, unknown>(Object.entries(structuredClone(base)));
  const defaults = new Map<string, unknown>(Object.entries(DEFAULT_SPEC));
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (value === null) {
        const reset = defaults.get(key);
        if (reset === undefined) out.delete(key);
        else out.set(key, structuredClone(reset));
        continue;
      }
      const current = out.get(key);
      if (MAP_FIELDS.has(key) && isPlainObject(value) && isPlainObject(current)) {
        const map = new Map(Object.entries(current));
        for (const [k, v] of Object.entries(value)) {
          if (v === null) map.delete(k);
          else if (v !== undefined) map.set(k, v);
        }
        out.set(key, Object.fromEntries(map));
      } else {
        out.set(key, structuredClone(value));
      }
    }
  }
  return Object.fromEntries(out) as unknown as ClusterSpec;
}

/** Merge partial spec inputs (no validation), e.g. a template then overrides. */
export function mergeSpecInputs(base: ClusterSpec, ...layers: ClusterSpecInput[]): ClusterSpec {
  return mergeLayers(base, layers as Record<string, unknown>[]);
}

function templateLayer(template: string, dir: string, problems: ErrorDetail[]): Record<string, unknown> {
  // The valid part of a template with bad fields is kept, so every other problem is reported too.
  const read = readTemplate(template, dir);
  problems.push(...read.problems);
  return read.spec as Record<string, unknown>;
}

/** The fields of `input` that are valid spec fields with no problem reported. */
function validPart(input: Record<string, unknown>, problems: ErrorDetail[]): Record<string, unknown> {
  const bad = new Set(problems.map((p) => p.path.split('.')[0]));
  return Object.fromEntries(
    Object.entries(input).filter(([k]) => (SPEC_FIELDS as readonly string[]).includes(k) && !bad.has(k)),
  );
}

/**
 * Map keys zod cannot see: `z.record` skips an own `__proto__` key (as
 * `JSON.parse` makes it) without checking it, so it is refused here by name.
 */
function reservedKeyProblems(input: Record<string, unknown>, prefix: string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const field of MAP_FIELDS) {
    const map = Object.hasOwn(input, field) ? input[field] : undefined;
    if (!isPlainObject(map)) continue;
    for (const key of Object.keys(map)) {
      if (RESERVED_MAP_KEYS.has(key)) {
        out.push({
          path: [prefix, field, key].filter((p) => p !== '').join('.'),
          message: `${JSON.stringify(key)} is reserved and cannot be used as a key`,
        });
      }
    }
  }
  return out;
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function dropNullValues(v: unknown): unknown {
  if (!isPlainObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
