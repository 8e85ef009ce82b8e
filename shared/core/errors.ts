/**
 * Base of every typed error in recc. Each module keeps its own `errors.ts`
 * that extends this class; names always end in `Error` and `cause` is kept.
 *
 * `statusCode` follows HTTP semantics everywhere (API, CLI exit codes map from
 * it): below 500 the message and details are safe to show the caller; at 500
 * or above the caller sees a generic message and the detail goes to the log.
 */
export interface ErrorDetail {
  /** Field path such as `nWorkers` or `resources.GPU`; empty for the whole input. */
  path: string;
  message: string;
}

export class ReccError extends Error {
  readonly statusCode: number;
  readonly type: string;
  readonly details: ErrorDetail[];

  constructor(
    message: string,
    options: { statusCode?: number; details?: ErrorDetail[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.type = new.target.name;
    this.statusCode = options.statusCode ?? 500;
    this.details = options.details ?? [];
  }

  /** True when the message is safe to show to the caller. */
  get exposable(): boolean {
    return this.statusCode < 500;
  }
}

/** Input failed validation; every problem is listed in `details`. */
export class ValidationError extends ReccError {
  constructor(message: string, details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 400, details, ...options });
  }
}

export class NotFoundError extends ReccError {
  constructor(message: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { statusCode: 404, ...options });
  }
}

export class ConflictError extends ReccError {
  constructor(message: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { statusCode: 409, ...options });
  }
}

/** Configuration is missing or invalid; raised once at start-up. */
export class ConfigError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = [], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, details, ...options });
  }
}

/**
 * Render a ReccError for a terminal: the message, then one line per detail.
 * A message that ends with its own details joined by "; " (so that it reads
 * well alone, e.g. as a cluster's status reason) is cut before them here, so
 * no problem is printed twice.
 */
export function formatErrorForHumans(err: ReccError): string {
  const inline = err.details.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`).join('; ');
  const head = inline && err.message.endsWith(`: ${inline}`) ? err.message.slice(0, -(inline.length + 2)) : err.message;
  const lines = [head];
  for (const d of err.details) lines.push(`  - ${d.path ? `${d.path}: ` : ''}${d.message}`);
  return lines.join('\n');
}
