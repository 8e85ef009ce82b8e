/**
 * Where cost alerts go. Adapters in `adapters/notify/`: Slack incoming
 * webhook, e-mail over SMTP (nodemailer) and e-mail over SES v2.
 * A failed delivery throws (the caller releases the alert's claim and retries
 * on its next run).
 */
export interface Notification {
  subject: string;
  text: string;
  /** Extra recipients for channels that address people (e-mail), e.g. the user. */
  to?: string[];
}

export interface Notifier {
  /** Channel name used in dedupe keys and reports: `slack`, `email`. */
  readonly channel: string;
  send(notification: Notification): Promise<void>;
}
