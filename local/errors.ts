import { ReccError } from '../shared/core/errors.ts';

/** An embedded service of `recc up` (dynalite, fauxqs, the API server) could not start. */
export class LocalStackStartError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** Another `recc up` already runs on this state directory. */
export class StateDirInUseError extends ReccError {
  readonly pid: number;
  constructor(stateDir: string, pid: number, options: { cause?: unknown } = {}) {
    super(`another recc up (pid ${pid}) is already using the state directory ${stateDir}; stop it first or pass another --state-dir`, {
      statusCode: 409,
      ...options,
    });
    this.pid = pid;
  }
}

/** A browser request the local API refuses: cross-site, from another origin, or addressed by a non-loopback name (local/browser-guard.ts). */
export class CrossSiteRequestError extends ReccError {
  constructor(path: string, message: string) {
    super(message, { statusCode: 403, details: [{ path, message }] });
  }
}
