import { createHash } from 'node:crypto';
import { IDENTITY_FN, type FunctionDef } from '../comm/payload.ts';
import { ValidationError } from '../shared/core/errors.ts';
import { inlineSource } from './inline.ts';

/** A function exported by a module uploaded with `client.module(path)`. */
export class ModuleFunction {
  readonly id: string;
  readonly def: Extract<FunctionDef, { kind: 'module' }>;
  constructor(hash: string, moduleName: string, exportName: string) {
    this.def = { kind: 'module', name: exportName, hash, exportName };
    this.id = `m-${hash.slice(0, 16)}-${exportName}`;
    void moduleName;
  }
}

/** A module bundled and uploaded once; `fn(exportName)` refers to one export. */
export class ModuleHandle {
  constructor(
    readonly hash: string,
    readonly name: string,
  ) {}
  fn(exportName: string): ModuleFunction {
    if (!/^[A-Za-z_$][\w$]*$/.test(exportName)) {
      throw new ValidationError('invalid export name', [{ path: 'exportName', message: `"${exportName}" is not an identifier` }]);
    }
    return new ModuleFunction(this.hash, this.name, exportName);
  }
}

export interface CommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Resolve with the exit code instead of failing when it is non-zero. */
  allowNonZero?: boolean;
}

export interface CommandResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** A subprocess task: the task's arguments are appended to `argv`. */
export class CommandFunction {
  readonly id: string;
  readonly def: Extract<FunctionDef, { kind: 'command' }>;
  constructor(argv: readonly string[], options: CommandOptions = {}) {
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
      throw new ValidationError('invalid command', [{ path: 'argv', message: 'expected a non-empty array of strings' }]);
    }
    this.def = {
      kind: 'command',
      name: argv[0] as string,
      argv: [...argv],
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: { ...options.env } } : {}),
      ...(options.allowNonZero ? { allowNonZero: true } : {}),
    };
    this.id = `c-${createHash('sha1').update(JSON.stringify(this.def)).digest('hex').slice(0, 16)}`;
  }
}

/** `command(['python3', 'script.py'], { cwd })`: a task that runs a subprocess and resolves to `{exitCode, stdout, stderr}`. */
export function command(argv: readonly string[], options: CommandOptions = {}): CommandFunction {
  return new CommandFunction(argv, options);
}

export type AnyFunction = (...args: any[]) => unknown;
export type TaskFunction = AnyFunction | ModuleFunction | CommandFunction;

/** Resolved form of any task function: its id, definition and a display name for keys. */
export interface FunctionRef {
  id: string;
  def: FunctionDef;
  name: string;
}

const inlineRefs = new WeakMap<AnyFunction, FunctionRef>();
const sourceRefs = new Map<string, FunctionRef>();

export const identityRef: FunctionRef = { id: IDENTITY_FN, def: { kind: 'identity', name: 'scatter' }, name: 'scatter' };

export function functionRef(fn: TaskFunction): FunctionRef {
  if (fn instanceof ModuleFunction) return { id: fn.id, def: fn.def, name: fn.def.exportName };
  if (fn instanceof CommandFunction) return { id: fn.id, def: fn.def, name: keyName(fn.def.name.split('/').pop() ?? 'command') };
  if (typeof fn !== 'function') {
    throw new ValidationError('not a task function', [{ path: 'fn', message: 'expected a function, mod.fn(name) or command(argv)' }]);
  }
  const hit = inlineRefs.get(fn);
  if (hit) return hit;
  const source = inlineSource(fn);
  const name = keyName(fn.name || 'lambda');
  // A new function object with known source (an arrow written inside a loop) skips the hash.
  const bySource = `${name}\0${source}`;
  let ref = sourceRefs.get(bySource);
  if (!ref) {
    ref = { id: `i-${createHash('sha1').update(source).digest('hex').slice(0, 16)}`, def: { kind: 'inline', name, source }, name };
    sourceRefs.set(bySource, ref);
  }
  inlineRefs.set(fn, ref);
  return ref;
}

function keyName(name: string): string {
  return name.replace(/[^\w.-]/g, '_').slice(0, 40) || 'task';
}
