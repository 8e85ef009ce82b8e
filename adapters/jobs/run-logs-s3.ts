import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getOptionalString, getString, type Env } from '../../shared/core/env.ts';
import { RUN_ID_PATTERN, type RunLogStore } from '../../shared/ports/run-logs.ts';

/**
 * Run logs in S3 (`s3://<bucket>/job-runs/<run id>/driver.log`), on AWS the
 * stage's payload bucket, whose `job-runs/` lifecycle rule expires them. One
 * PutObject per copy (a log is read whole from the pod, at most the driver's
 * `maxLogBytes`), one GetObject per read; a missing object is "no log".
 */
export class S3RunLogStore implements RunLogStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  private key(runId: string): string {
    if (!RUN_ID_PATTERN.test(runId)) throw new RangeError(`not a run id: ${JSON.stringify(runId)}`);
    return `job-runs/${runId}/driver.log`;
  }

  async put(runId: string, text: string): Promise<string> {
    const key = this.key(runId);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: text, ContentType: 'text/plain; charset=utf-8' }));
    return `s3://${this.bucket}/${key}`;
  }

  async get(runId: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(runId) }));
      return (await out.Body?.transformToString('utf-8')) ?? '';
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404)) return undefined;
      throw err;
    }
  }
}

/** The run log store of a deployment: the payload bucket (`RECC_PAYLOAD_BUCKET`; `S3_ENDPOINT` for an emulator). */
export function runLogStoreFromEnv(env: Env, region: string): S3RunLogStore {
  const bucket = getString(env, 'RECC_PAYLOAD_BUCKET');
  const endpoint = getOptionalString(env, 'S3_ENDPOINT');
  return new S3RunLogStore(new S3Client({ region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) }), bucket);
}
