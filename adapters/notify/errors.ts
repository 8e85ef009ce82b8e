import { ReccError } from '../../shared/core/errors.ts';

/**
 * A notification could not be delivered (webhook refused it, SMTP/SES
 * error). 502: an upstream failed. The message never contains the webhook
 * URL or credentials.
 */
export class NotificationFailedError extends ReccError {
  readonly channel: string;
  constructor(channel: string, message: string, options: { cause?: unknown } = {}) {
    super(`${channel} notification failed: ${message}`, { statusCode: 502, ...options });
    this.channel = channel;
  }
}
