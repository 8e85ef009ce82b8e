import middy from '@middy/core';
import type { Context, SNSEvent } from 'aws-lambda';
import type { Logger } from '../shared/core/logger.ts';
import { formatAlarmNotice } from '../shared/ops/alarm-message.ts';
import type { Notifier } from '../shared/ports/notifier.ts';
import { lazyHandler } from './commons/lazy.ts';

/**
 * The operations alert channel (issue 17 item 10): CloudWatch alarms of the
 * stage publish to the `OpsAlertTopic` SNS topic, which invokes this
 * function; it sends each alarm through the same notifiers as cost alerts
 * (Slack webhook, SES or SMTP e-mail: `RECC_SLACK_WEBHOOK_URL`,
 * `RECC_EMAIL_TRANSPORT`, `RECC_ALERT_EMAIL_TO`). A notifier that fails makes
 * the invocation fail, so Lambda retries the event (SNS invokes
 * asynchronously: two retries); with no notifier configured the alarm is only
 * logged, once, as a warning.
 */
export interface OpsAlertsDeps {
  notifiers: readonly Notifier[];
  logger: Logger;
}

export interface OpsAlertsResult {
  alarms: number;
  sent: number;
}

export function makeHandler(deps: OpsAlertsDeps) {
  return middy(async (event: SNSEvent, _context: Context): Promise<OpsAlertsResult> => {
    let sent = 0;
    const failures: unknown[] = [];
    const records = Array.isArray(event?.Records) ? event.Records : [];
    for (const record of records) {
      const notice = formatAlarmNotice(typeof record?.Sns?.Message === 'string' ? record.Sns.Message : '');
      deps.logger.warn('operations alarm', { subject: notice.subject, state: notice.state });
      for (const notifier of deps.notifiers) {
        try {
          await notifier.send({ subject: notice.subject, text: notice.text });
          sent += 1;
        } catch (err) {
          deps.logger.error('operations alarm not delivered', { channel: notifier.channel, subject: notice.subject, error: err });
          failures.push(err);
        }
      }
    }
    if (failures.length) throw new Error(`${failures.length} operations alert deliveries failed; Lambda retries the event`);
    return { alarms: records.length, sent };
  });
}

export const handler = lazyHandler(async () => {
  const [{ costConfigFromEnv }, { notifiersFromConfig }, { powertoolsLogger }] = await Promise.all([
    import('../shared/cost/config.ts'),
    import('../adapters/notify/index.ts'),
    import('./commons/logger.ts'),
  ]);
  const config = costConfigFromEnv(process.env);
  const logger = powertoolsLogger({ serviceName: 'recc-ops-alerts' });
  const notifiers = await notifiersFromConfig(config, process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {});
  if (notifiers.length === 0) logger.warn('no alert channel configured (RECC_SLACK_WEBHOOK_URL, RECC_EMAIL_TRANSPORT): operations alarms are only logged');
  return makeHandler({ notifiers, logger });
});
