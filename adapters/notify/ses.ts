import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { Notification, Notifier } from '../../shared/ports/notifier.ts';
import { NotificationFailedError } from './errors.ts';
import { recipients } from './smtp.ts';

/** E-mail through Amazon SES v2 (`SendEmail`, simple content) on AWS. */
export interface SesNotifierOptions {
  client: SESv2Client;
  from: string;
  to: readonly string[];
}

export class SesEmailNotifier implements Notifier {
  readonly channel = 'email';

  constructor(private readonly options: SesNotifierOptions) {}

  async send(notification: Notification): Promise<void> {
    const to = recipients(this.options.to, notification.to);
    if (to.length === 0) return;
    try {
      await this.options.client.send(
        new SendEmailCommand({
          FromEmailAddress: this.options.from,
          Destination: { ToAddresses: to },
          Content: {
            Simple: {
              Subject: { Data: notification.subject, Charset: 'UTF-8' },
              Body: { Text: { Data: notification.text, Charset: 'UTF-8' } },
            },
          },
        }),
      );
    } catch (err) {
      throw new NotificationFailedError(this.channel, 'SES refused the message', { cause: err });
    }
  }
}
