import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ErrorDetail } from '../core/errors.ts';
import { SpecValidationError } from './errors.ts';
import { SPEC_FIELDS, clusterSpecInputSchema, issuesToDetails, show } from './schema.ts';
import type { ClusterSpecInput, TemplateInfo } from './types.ts';
import { parseWarm, type WarmPool } from './warm.ts';

/**
 * Cluster templates: YAML files in `templates/` at the repository root.
 *
 *     description: One line shown by `recc templates`.
 *     spec:
 *       instanceType: r5.2xlarge
 *       workerMemoryGiB: 14
 *
 * A template names only the fields it changes; the rest come from
 * `DEFAULT_SPEC`. A YAML file given by path may use the same layout or be a
 * bare spec mapping (no `spec:` key).
 */
export type { TemplateInfo } from './types.ts';

/**
 * `templates/` at the repository root, found from this file's location. In a
 * bundle where `import.meta.url` is not this file (esbuild cjs output, e.g. a
 * Lambda package), it falls back to `templates/` in the working directory
 * (`/var/task/templates` in Lambda, so package the folder with the function).
 */
export function defaultTemplatesDir(): string {
  const here = typeof import.meta.url === 'string' ? import.meta.url : undefined;
  if (here && here.endsWith('/shared/spec/templates.ts')) return fileURLToPath(new URL('../../templates/', here));
  return join(process.cwd(), 'templates');
}

const YAML_EXT = new Set(['.yaml', '.yml']);

/** True when `nameOrPath` is a file path (contains `/` or ends in .yaml/.yml), not a template name. */
export function isTemplatePath(nameOrPath: string): boolean {
  return nameOrPath.includes('/') || nameOrPath.includes('\\') || YAML_EXT.has(extname(nameOrPath).toLowerCase());
}

/** Every template in `dir`, sorted by name. Throws `SpecValidationError` if one is malformed. */
export function listTemplates(dir: string = defaultTemplatesDir()): TemplateInfo[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => YAML_EXT.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => readTemplateFile(join(dir, f), `templates/${f}`));
}

/** Names of the templates in `dir`. */
export function templateNames(dir: string = defaultTemplatesDir()): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => YAML_EXT.has(extname(f).toLowerCase()))
    .map((f) => basename(f, extname(f)))
    .sort();
}

/** A template read without throwing: the valid part of its spec and every problem found. */
export interface TemplateReadResult extends TemplateInfo {
  problems: ErrorDetail[];
}

/**
 * A template by name (from `dir`) or a YAML file by path (relative to the
 * current directory). Unknown names list the known templates. Throws
 * `SpecValidationError` with every problem.
 */
export function loadTemplate(nameOrPath: string, dir: string = defaultTemplatesDir()): TemplateInfo {
  const { problems, ...info } = readTemplate(nameOrPath, dir);
  if (problems.length > 0) throw new SpecValidationError(problems);
  return info;
}

/** Like `loadTemplate`, but returns the problems (and the valid fields) instead of throwing. */
export function readTemplate(nameOrPath: string, dir: string = defaultTemplatesDir()): TemplateReadResult {
  if (isTemplatePath(nameOrPath)) {
    const path = isAbsolute(nameOrPath) ? nameOrPath : resolve(process.cwd(), nameOrPath);
    if (!existsSync(path) || !statSync(path).isFile()) {
      return failed(nameOrPath, { path: 'template', message: `no such file: ${nameOrPath}` });
    }
    return readTemplatePath(path, nameOrPath);
  }
  for (const ext of YAML_EXT) {
    const path = join(dir, `${nameOrPath}${ext}`);
    if (existsSync(path)) return readTemplatePath(path, `templates/${nameOrPath}${ext}`);
  }
  const known = templateNames(dir);
  return failed(nameOrPath, {
    path: 'template',
    message: `unknown template ${show(nameOrPath)}; known templates: ${known.length > 0 ? known.join(', ') : '(none)'}`,
  });
}

/** Parse one template file; throws `SpecValidationError` listing every problem (the file named in each message). */
export function readTemplateFile(path: string, label: string = path): TemplateInfo {
  const { problems, ...info } = readTemplatePath(path, label);
  if (problems.length > 0) throw new SpecValidationError(problems);
  return info;
}

function readTemplatePath(path: string, label: string): TemplateReadResult {
  const name = basename(path, extname(path));
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    return failed(name, { path: 'template', message: `${label} is not valid YAML: ${reason}` });
  }
  return { name, ...parseTemplateDocument(doc, label) };
}

function failed(name: string, problem: ErrorDetail): TemplateReadResult {
  return { name: basename(name, extname(name)), description: '', spec: {}, problems: [problem] };
}

/**
 * Split a parsed template document into description and spec. `spec` holds
 * only the valid fields; `problems` lists the rest (the file named in each).
 */
export function parseTemplateDocument(
  doc: unknown,
  label: string,
): { description: string; spec: ClusterSpecInput; warm?: WarmPool; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  const within = (d: ErrorDetail): ErrorDetail => ({ path: d.path, message: `${d.message} (in ${label})` });
  if (doc === null || doc === undefined) return { description: '', spec: {}, problems };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push({ path: 'template', message: `${label} must be a YAML mapping (got ${show(doc)})` });
    return { description: '', spec: {}, problems };
  }
  const record = doc as Record<string, unknown>;
  let description = '';
  let warm: WarmPool | undefined;
  let rawSpec: unknown = record;
  if ('spec' in record) {
    rawSpec = record.spec ?? {};
    for (const key of Object.keys(record)) {
      if (key !== 'spec' && key !== 'description' && key !== 'warm') {
        problems.push(within({ path: key, message: 'unknown template key; a template has "description", "spec" and "warm"' }));
      }
    }
    if (record.warm !== undefined) {
      const parsedWarm = parseWarm(record.warm);
      problems.push(...parsedWarm.problems.map(within));
      warm = parsedWarm.warm;
    }
    if (record.description !== undefined) {
      if (typeof record.description === 'string') description = record.description.trim();
      else problems.push(within({ path: 'description', message: `must be a string (got ${show(record.description)})` }));
    }
  }
  const parsed = clusterSpecInputSchema.safeParse(rawSpec);
  const withWarm = warm ? { warm } : {};
  if (parsed.success) return { description, spec: parsed.data as ClusterSpecInput, ...withWarm, problems };
  const specProblems = issuesToDetails(parsed.error.issues, '', rawSpec);
  problems.push(...specProblems.map(within));
  return { description, spec: validFields(rawSpec, specProblems), ...withWarm, problems };
}

/** The fields of `input` that are spec fields and have no problem. */
export function validFields(input: unknown, problems: ErrorDetail[]): ClusterSpecInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return {};
  const bad = new Set(problems.map((p) => p.path.split('.')[0]));
  return Object.fromEntries(
    Object.entries(input).filter(([k]) => (SPEC_FIELDS as readonly string[]).includes(k) && !bad.has(k)),
  ) as ClusterSpecInput;
}
