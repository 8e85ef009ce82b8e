import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { notifiersFromConfig } from '../../../adapters/notify/index.ts';
import { SesEmailNotifier } from '../../../adapters/notify/ses.ts';
import { SmtpEmailNotifier } from '../../../adapters/notify/smtp.ts';
import { NotificationFailedError } from '../../../adapters/notify/errors.ts';
import { InMemoryAlertLedger } from '../../../adapters/store/alert-ledger-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runCostReporter } from '../../../control/cost-reporter.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { freePort } from '../../support/ports.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';
import { startSmtpCapture, type SmtpCapture } from '../../support/notify-capture.ts';

/**
 * E-mail alerts: over SMTP to a local `smtp-server`, and over SES v2
 * (aws-sdk-client-mock). Same scenario as the Slack test: alice runs
 * 2 × r5.4xlarge ($2.026/h) from 2026-11-01; on Nov 16 her forecast is
 * $1,458.72 against a $1,000 threshold on a $2,000 budget.
 */
const NOV16 = Date.UTC(2026, 10, 16);

/** The text of a captured message: headers unfolded, quoted-printable soft breaks and escapes decoded. */
function decode(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\r?\n[ \t]+/g, ' ');
}

describe('Class: SmtpEmailNotifier (through runCostReporter)', () => {
  let smtp: SmtpCapture;

  beforeEach(async () => {
    smtp = await startSmtpCapture();
  });
  afterEach(async () => {
    await smtp.close();
  });

  it('delivers the alert to the SMTP relay with the stated figures, once', async () => {
    // Prepare
    const store = new InMemoryClusterStore();
    await storeRunningSince(store, { id: 'c-train', owner: 'alice', job: 'train', plan: pricedPlan('r5.4xlarge', [3, 3]), workers: 6, since: Date.UTC(2026, 10, 1), idleTimeoutMinutes: 60 * 24 * 60 });
    const config = costConfigFromEnv({
      RECC_COST_USER_BUDGET_USD: '2000',
      RECC_COST_ALERT_THRESHOLDS: '1000',
      RECC_COST_ALERT_SCOPES: 'user',
      RECC_SMTP_HOST: smtp.host,
      RECC_SMTP_PORT: String(smtp.port),
      RECC_ALERT_EMAIL_FROM: 'recc@example.org',
      RECC_ALERT_EMAIL_TO: 'finops@example.org',
      RECC_USER_EMAIL_DOMAIN: 'example.org',
    });
    const notifiers = await notifiersFromConfig(config);
    const clock = new ManualClock(NOV16);
    const deps = { store, clock, logger: silentLogger, config, ledger: new InMemoryAlertLedger(() => clock.now()), notifiers };

    // Act
    const report = await runCostReporter(deps);
    await runCostReporter(deps);

    // Assess
    expect(report.alerts.map((a) => [a.channel, a.outcome])).toEqual([['email', 'sent']]);
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.from).toBe('recc@example.org');
    expect(mail.to).toEqual(['finops@example.org', 'alice@example.org']);
    const text = decode(mail.raw);
    expect(text).toContain('Subject: recc cost alert: user alice: forecasted month $1,458.72 > $1,000 threshold on a $2,000 budget');
    expect(text).toContain('recc cost alert for user alice (2026-11): forecasted month $1,458.72 > $1,000 threshold on a $2,000 budget.');
    expect(text).toContain('Month to date $729.36 after 15 of 30 days; forecast $1,458.72 (linear on elapsed days).');
    expect(text).toContain('c-train c-train (alice, recc-alice-train, job train, RUNNING): $729.36 this month, $2.03/h now');
    for (const n of notifiers) if (n instanceof SmtpEmailNotifier) n.close();
  });

  it('throws NotificationFailedError when the relay cannot be reached', async () => {
    const notifier = new SmtpEmailNotifier({ host: '127.0.0.1', port: await freePort(), secure: false, from: 'recc@example.org', to: ['x@example.org'] });
    await expect(notifier.send({ subject: 's', text: 't' })).rejects.toBeInstanceOf(NotificationFailedError);
    notifier.close();
  });
});

describe('Class: SesEmailNotifier', () => {
  it('sends a simple SES v2 message to the configured and extra recipients', async () => {
    // Prepare
    const ses = mockClient(SESv2Client);
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    const notifier = new SesEmailNotifier({ client: new SESv2Client({ region: 'us-east-1' }), from: 'recc@example.org', to: ['finops@example.org'] });

    // Act
    await notifier.send({ subject: 'recc cost alert', text: 'forecasted month $1,024.08 > $1,000 threshold on a $2,000 budget', to: ['alice@example.org', 'finops@example.org'] });

    // Assess
    expect(ses.commandCalls(SendEmailCommand).map((c) => c.args[0].input)).toEqual([
      {
        FromEmailAddress: 'recc@example.org',
        Destination: { ToAddresses: ['finops@example.org', 'alice@example.org'] },
        Content: {
          Simple: {
            Subject: { Data: 'recc cost alert', Charset: 'UTF-8' },
            Body: { Text: { Data: 'forecasted month $1,024.08 > $1,000 threshold on a $2,000 budget', Charset: 'UTF-8' } },
          },
        },
      },
    ]);
    ses.restore();
  });

  it('wraps an SES error in NotificationFailedError', async () => {
    const ses = mockClient(SESv2Client);
    ses.on(SendEmailCommand).rejects(Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' }));
    const notifier = new SesEmailNotifier({ client: new SESv2Client({ region: 'us-east-1' }), from: 'recc@example.org', to: ['finops@example.org'] });
    const error = await notifier.send({ subject: 's', text: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotificationFailedError);
    expect((error as Error).cause).toMatchObject({ name: 'MessageRejected' });
    ses.restore();
  });
});
