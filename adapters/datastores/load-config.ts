import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DatastoreConfigError } from '../../shared/datastores/errors.ts';
import { DATASTORES_JSON_ENV, resolveConfig, type ConfigLayer, type DatastoresConfig, layerFromEnv } from '../../shared/datastores/config.ts';

export const CONFIG_FILE = 'recc.datastores.yaml';

export interface LoadOptions {
  cwd?: string;
  home?: string;
  env?: Record<string, string | undefined>;
  /** Per-call override, the last layer. */
  override?: ConfigLayer;
}

function readLayer(path: string): { source: string; layer: unknown } {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DatastoreConfigError(`cannot read datastore configuration ${path}: ${(err as Error).message.split('\n')[0]}; expected YAML with stores, read and write`, [], { cause: err });
  }
  // Relative local roots are relative to the file that names them.
  if (raw && typeof raw === 'object' && 'stores' in raw && raw.stores && typeof raw.stores === 'object') {
    for (const s of Object.values(raw.stores as Record<string, unknown>)) {
      if (s && typeof s === 'object' && (s as { type?: unknown }).type === 'local' && typeof (s as { root?: unknown }).root === 'string') {
        const root = (s as { root: string }).root;
        if (root && !isAbsolute(root)) (s as { root: string }).root = resolve(dirname(path), root);
      }
    }
  }
  return { source: path, layer: raw };
}

/**
 * Layers, earliest first: defaults, `~/recc.datastores.yaml`, `./recc.datastores.yaml`
 * (or the file named by RECC_DATASTORES_CONFIG), the environment, then `override`.
 */
export function loadDatastoresConfig(options: LoadOptions = {}): DatastoresConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const layers: Array<{ source: string; layer: unknown }> = [];
  const homeFile = join(home, CONFIG_FILE);
  const cwdFile = join(cwd, CONFIG_FILE);
  if (existsSync(homeFile) && resolve(homeFile) !== resolve(cwdFile)) layers.push(readLayer(homeFile));
  const explicit = env.RECC_DATASTORES_CONFIG;
  if (explicit) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p)) throw new DatastoreConfigError(`RECC_DATASTORES_CONFIG names ${p}, which does not exist; expected a ${CONFIG_FILE}-style file`);
    layers.push(readLayer(p));
  } else if (existsSync(cwdFile)) layers.push(readLayer(cwdFile));
  // The cluster spec's settings, as the workers of a cluster receive them (shared/definition/render.ts).
  const fromSpec = env[DATASTORES_JSON_ENV];
  if (fromSpec?.trim()) {
    let layer: unknown;
    try {
      layer = JSON.parse(fromSpec);
    } catch (err) {
      throw new DatastoreConfigError(`${DATASTORES_JSON_ENV} is not JSON (${(err as Error).message}); expected the cluster spec's datastores settings`, [], { cause: err });
    }
    layers.push({ source: `cluster spec (${DATASTORES_JSON_ENV})`, layer });
  }
  const envLayer = layerFromEnv(env);
  if (Object.keys(envLayer).length) layers.push({ source: 'environment (RECC_DATASTORES_*)', layer: envLayer });
  if (options.override) layers.push({ source: 'override', layer: options.override });
  const config = resolveConfig(layers);
  for (const s of Object.values(config.stores)) if (s.type === 'local' && !isAbsolute(s.root)) s.root = resolve(cwd, s.root);
  return config;
}

let cached: DatastoresConfig | undefined;
/** The process-wide configuration, read once. */
export function datastoresConfig(): DatastoresConfig {
  cached ??= loadDatastoresConfig();
  return cached;
}
/** For tests and `recc data` after a config change. */
export function resetDatastoresConfig(): void {
  cached = undefined;
}
