import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { redact, type Logger } from '../../shared/core/logger.ts';

/**
 * The Lambda logger: Powertools (one JSON object per line, CloudWatch
 * friendly) behind the core `Logger` interface, so use cases log the same
 * way in Lambda and in the local stack. Fields pass through the core
 * `redact()` first: keys that look like secrets (token, authorization, …)
 * never reach a log.
 */
export function powertoolsLogger(options: { serviceName?: string; logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' } = {}): Logger {
  return wrap(new PowertoolsLogger({ serviceName: options.serviceName ?? 'recc-api', logLevel: options.logLevel ?? 'INFO' }));
}

function wrap(pt: PowertoolsLogger): Logger {
  const fields = (f?: Record<string, unknown>) => (f ? (redact(f) as Record<string, unknown>) : {});
  return {
    debug: (m, f) => pt.debug(m, fields(f)),
    info: (m, f) => pt.info(m, fields(f)),
    warn: (m, f) => pt.warn(m, fields(f)),
    error: (m, f) => pt.error(m, fields(f)),
    child: (f) => wrap(pt.createChild({ persistentKeys: fields(f) as Record<string, string> })),
  };
}
