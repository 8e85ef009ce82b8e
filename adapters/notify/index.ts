import type { CostConfig } from '../../shared/cost/config.ts';
import type { Notifier } from '../../shared/ports/notifier.ts';
import { SlackNotifier } from './slack.ts';
import { SmtpEmailNotifier } from './smtp.ts';

export { SlackNotifier, slackPayload } from './slack.ts';
export { SmtpEmailNotifier } from './smtp.ts';
export { NotificationFailedError } from './errors.ts';

/**
 * The notifiers a cost configuration asks for. SES is created lazily (its SDK
 * is only loaded when `transport` is `ses`).
 */
export async function notifiersFromConfig(config: CostConfig, options: { region?: string } = {}): Promise<Notifier[]> {
  const out: Notifier[] = [];
  if (config.slackWebhookUrl) out.push(new SlackNotifier({ webhookUrl: config.slackWebhookUrl }));
  const email = config.email;
  if (email?.transport === 'smtp' && email.smtp) {
    out.push(
      new SmtpEmailNotifier({
        host: email.smtp.host,
        port: email.smtp.port,
        secure: email.smtp.secure,
        ...(email.smtp.user ? { user: email.smtp.user } : {}),
        ...(email.smtp.password ? { password: email.smtp.password } : {}),
        from: email.from,
        to: email.to,
      }),
    );
  } else if (email?.transport === 'ses') {
    const [{ SESv2Client }, { SesEmailNotifier }] = await Promise.all([import('@aws-sdk/client-sesv2'), import('./ses.ts')]);
    out.push(new SesEmailNotifier({ client: new SESv2Client(options.region ? { region: options.region } : {}), from: email.from, to: email.to }));
  }
  return out;
}
