import type { Command } from 'commander';
import { ReccError, ValidationError, formatErrorForHumans, type ErrorDetail } from '../shared/core/errors.ts';

/**
 * What every command prints under `--json`: exactly one JSON document on
 * stdout, the same envelope for success and failure, so a script reads one
 * shape whatever happened.
 *
 *     {"ok": true,  "command": "cluster get", "data": {…}}
 *     {"ok": false, "command": "cluster get", "error": {"type", "message", "details": [{"path", "message"}]}}
 *
 * `--follow` commands print one envelope per line, one per poll. The exit
 * code is the same with or without `--json`: 0 ok, 2 invalid input, 1 any
 * other failure.
 */
export interface JsonSuccess<T = unknown> {
  ok: true;
  command: string;
  data: T;
}

export interface JsonFailure {
  ok: false;
  command: string;
  error: { type: string; message: string; details: ErrorDetail[] };
}

/** Exit codes: 0 ok, 1 operation failed, 2 invalid input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The command path a user typed (`cluster get`), from argv and the program's command tree. */
export function commandPath(program: Command, argv: readonly string[]): string {
  const names: string[] = [];
  let current: Command = program;
  for (const token of argv.slice(2)) {
    if (token.startsWith('-')) continue;
    const next = current.commands.find((c) => c.name() === token || c.aliases().includes(token));
    if (!next) break;
    names.push(next.name());
    current = next;
  }
  return names.join(' ') || program.name();
}

/** Whether argv asks for JSON output (`--json` anywhere before a `--`). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

let currentCommand = 'recc';

/** Set once by `main` before the command runs, so `printJson` needs no plumbing through every action. */
export function setCurrentCommand(name: string): void {
  currentCommand = name;
}

/** Print `data` in the success envelope (pretty unless `compact`, which `--follow` uses: one line per poll). */
export function printJson(data: unknown, options: { compact?: boolean } = {}): void {
  const envelope: JsonSuccess = { ok: true, command: currentCommand, data };
  process.stdout.write(`${options.compact ? JSON.stringify(envelope) : JSON.stringify(envelope, null, 2)}\n`);
}

/**
 * Hints written for API callers name HTTP routes; on the command line the
 * matching command is what the user can run.
 */
const ROUTE_HINTS: Array<[RegExp, string]> = [
  [/\bGET \/templates\b/g, '`recc templates`'],
  [/\bGET \/clusters\/\{?id\}?\/logs\b/g, '`recc cluster logs ID`'],
  [/\bGET \/clusters\/\{?id\}?\b/g, '`recc cluster get ID`'],
  [/\bGET \/clusters\b/g, '`recc cluster list`'],
  [/\bGET \/costs\b/g, '`recc cost`'],
];

export function cliHints(text: string): string {
  return ROUTE_HINTS.reduce((t, [route, command]) => t.replace(route, command), text);
}

/** The error as the failure envelope shows it (generic text for internal errors). */
export function errorBody(err: unknown): JsonFailure['error'] {
  if (err instanceof ReccError && (err.exposable || err instanceof ValidationError)) {
    return { type: err.type, message: cliHints(err.message), details: err.details.map((d) => ({ path: d.path, message: cliHints(d.message) })) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { type: err instanceof ReccError ? err.type : 'Error', message, details: [] };
}

export function exitCodeFor(err: unknown): number {
  return err instanceof ValidationError ? EXIT.usage : EXIT.failed;
}

/** Print an error (human text on stderr, or the failure envelope on stdout) and return the exit code. */
export function reportFailure(err: unknown, json: boolean): number {
  if (json) {
    const envelope: JsonFailure = { ok: false, command: currentCommand, error: errorBody(err) };
    process.stdout.write(`${JSON.stringify(envelope, null, 2)}\n`);
    return exitCodeFor(err);
  }
  if (err instanceof ReccError && (err.exposable || err instanceof ValidationError)) {
    process.stderr.write(`error: ${cliHints(formatErrorForHumans(err))}\n`);
    return exitCodeFor(err);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  if (process.env.RECC_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.failed;
}
