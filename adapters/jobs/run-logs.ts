import { DatastoreNotFoundError } from '../../shared/datastores/errors.ts';
import type { Datastore } from '../../shared/datastores/port.ts';
import { RUN_ID_PATTERN, type RunLogStore } from '../../shared/ports/run-logs.ts';

/**
 * Run logs in a Datastore (`job-runs/<run id>/driver.log`): on AWS an
 * S3Datastore on the stage's payload bucket, in tests memory or fauxqs S3.
 * Keys are built only from run ids of the `runIdFor` shape.
 */
export class DatastoreRunLogStore implements RunLogStore {
  constructor(private readonly store: Datastore) {}

  private key(runId: string): string {
    if (!RUN_ID_PATTERN.test(runId)) throw new RangeError(`not a run id: ${JSON.stringify(runId)}`);
    return `job-runs/${runId}/driver.log`;
  }

  async put(runId: string, text: string): Promise<string> {
    const key = this.key(runId);
    await this.store.write(key, new TextEncoder().encode(text));
    return `${this.store.location}${this.store.location.endsWith('/') || this.store.location.endsWith(':') ? '' : '/'}${key}`;
  }

  async get(runId: string): Promise<string | undefined> {
    try {
      return new TextDecoder().decode(await this.store.read(this.key(runId)));
    } catch (err) {
      if (err instanceof DatastoreNotFoundError) return undefined;
      throw err;
    }
  }
}
