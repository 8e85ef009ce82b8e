/**
 * The one structured logger outside Lambda (Lambda handlers use the Powertools
 * logger, which writes the same JSON shape). One JSON object per line.
 * Keys that look like secrets are redacted before writing, so a token can
 * never reach a log by accident.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const SECRET_KEY = /token|secret|password|passwd|authorization|private|key$|keyPem|credential/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    // Logged in full (>= 500 errors are generic to the caller): status, details and the cause chain, redacted too.
    const err = value as Error & { statusCode?: unknown; code?: unknown; details?: unknown };
    return {
      name: value.name,
      message: value.message,
      ...(typeof err.statusCode === 'number' ? { statusCode: err.statusCode } : {}),
      ...(typeof err.code === 'string' || typeof err.code === 'number' ? { code: err.code } : {}),
      ...(Array.isArray(err.details) && err.details.length > 0 ? { details: redact(err.details, depth + 1) } : {}),
      stack: value.stack,
      ...(value.cause !== undefined ? { cause: redact(value.cause, depth + 1) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'object') ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export interface JsonLoggerOptions {
  level?: LogLevel;
  service?: string;
  write?: (line: string) => void;
  now?: () => number;
}

export function createLogger(options: JsonLoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const level = options.level ?? 'info';
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const now = options.now ?? Date.now;
  const emit = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const record = {
      level: lvl,
      time: new Date(now()).toISOString(),
      ...(options.service ? { service: options.service } : {}),
      message,
      ...(redact({ ...base, ...fields }) as Record<string, unknown>),
    };
    write(JSON.stringify(record));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything; for tests that do not inspect logs. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
