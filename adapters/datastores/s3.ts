import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { retry, type BackoffPolicy } from '../../shared/core/retry.ts';
import {
  DatastoreAccessDeniedError,
  DatastoreError,
  DatastoreNotFoundError,
  DatastoreThrottledError,
  DatastoreWriteAbortedError,
} from '../../shared/datastores/errors.ts';
import { checkKey, checkPrefix, checkRange, type ByteRange, type Datastore, type ListPage, type ObjectStat, type WriteBody } from '../../shared/datastores/port.ts';

/** S3 asks for backoff on 503 SlowDown; start near its documented 100 ms and cap at a few seconds. */
export const S3_THROTTLE_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 3_000, factor: 2, jitter: 'full' });

export interface S3DatastoreOptions {
  bucket: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  credentials?: S3ClientConfig['credentials'];
  /** Attempts on throttling or a 5xx, including the first. */
  attempts?: number;
  backoff?: BackoffPolicy;
  /** Multipart part size (≥ 5 MiB). */
  partSize?: number;
  client?: S3Client;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'ServiceUnavailable', 'InternalError']);

function isThrottle(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode ?? 0;
    return THROTTLE_CODES.has(err.name) || status === 503 || status === 500 || status === 429;
  }
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status === 503 || status === 429;
}

/**
 * An S3 bucket prefix as a Datastore. The SDK's own retries are off
 * (maxAttempts 1) so every retry goes through shared/core/retry.ts and
 * exhausting them raises DatastoreThrottledError.
 */
export class S3Datastore implements Datastore {
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  constructor(
    readonly name: string,
    private readonly options: S3DatastoreOptions,
  ) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ? (options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`) : '';
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.client =
      options.client ??
      new S3Client({
        region: options.region ?? 'us-east-1',
        ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        maxAttempts: 1,
      });
  }

  private objectKey(key: string): string {
    return this.prefix + checkKey(this.name, key);
  }

  private async call<T>(key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await retry(fn, {
        ...(this.options.backoff ?? S3_THROTTLE_BACKOFF),
        attempts: this.options.attempts ?? 6,
        retryIf: isThrottle,
        ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      });
    } catch (err) {
      return this.fail(err, key);
    }
  }

  private fail(err: unknown, key: string | undefined): never {
    if (err instanceof DatastoreError) throw err;
    const name = (err as Error)?.name;
    const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      if (name === 'NoSuchBucket') throw new DatastoreError(`${this.name}: bucket "${this.bucket}" does not exist; expected an existing bucket`, { store: this.name, key, statusCode: 404, cause: err });
      throw new DatastoreNotFoundError(this.name, key ?? '', { cause: err });
    }
    if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
      throw new DatastoreAccessDeniedError(this.name, `s3://${this.bucket}/${this.prefix}${key ?? ''}`, { cause: err });
    }
    if (isThrottle(err)) throw new DatastoreThrottledError(this.name, key, { cause: err });
    if (name === 'CredentialsProviderError') {
      throw new DatastoreError(
        `${this.name}: no AWS credentials to reach s3://${this.bucket}/${this.prefix}; expected credentials in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) or a pod or instance role`,
        { store: this.name, key, statusCode: 401, cause: err },
      );
    }
    const code = (err as { code?: string })?.code ?? ((err as Error)?.cause as { code?: string } | undefined)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
      throw new DatastoreError(
        `${this.name}: cannot reach S3 at ${this.options.endpoint ?? `the ${this.options.region ?? 'us-east-1'} endpoint`} (${code}); expected a reachable endpoint for bucket "${this.bucket}"`,
        { store: this.name, key, statusCode: 502, cause: err },
      );
    }
    throw new DatastoreError(`${this.name}: ${(err as Error)?.message ?? String(err)}`, { store: this.name, key, cause: err });
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.stat(key);
      return true;
    } catch (err) {
      if (err instanceof DatastoreNotFoundError) return false;
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectStat> {
    const Key = this.objectKey(key);
    const out = await this.call(key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key })));
    return { key, size: out.ContentLength ?? 0, etag: out.ETag?.replaceAll('"', ''), mtimeMs: out.LastModified?.getTime() ?? 0 };
  }

  async list(prefix: string, options: { token?: string; limit?: number } = {}): Promise<ListPage> {
    checkPrefix(this.name, prefix);
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 1000));
    const out = await this.call(undefined, () =>
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, MaxKeys: limit, ContinuationToken: options.token }),
      ),
    );
    const entries = (out.Contents ?? []).map((o) => ({
      key: (o.Key ?? '').slice(this.prefix.length),
      size: o.Size ?? 0,
      etag: o.ETag?.replaceAll('"', ''),
      mtimeMs: o.LastModified?.getTime() ?? 0,
    }));
    return { entries, ...(out.IsTruncated && out.NextContinuationToken ? { nextToken: out.NextContinuationToken } : {}) };
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    checkRange(this.name, key, range);
    const Key = this.objectKey(key);
    if (range?.length === 0) return new Uint8Array(0);
    const Range = range ? `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}` : undefined;
    try {
      return await this.call(key, async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      });
    } catch (err) {
      // A range starting at or past the end: S3 answers 416; the other adapters return no bytes.
      const cause = (err as Error).cause as { $metadata?: { httpStatusCode?: number }; name?: string } | undefined;
      if (range && (cause?.$metadata?.httpStatusCode === 416 || cause?.name === 'InvalidRange')) return new Uint8Array(0);
      throw err;
    }
  }

  async write(key: string, body: WriteBody, options: { signal?: AbortSignal } = {}): Promise<ObjectStat> {
    const Key = this.objectKey(key);
    const signal = options.signal;
    // lib-storage uploads small bodies with one PutObject and large ones as a multipart
    // upload that becomes visible only on CompleteMultipartUpload; on failure it aborts
    // the upload (leavePartsOnError false), so no partial object or orphan parts remain.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body: body instanceof Uint8Array ? body : Readable.from(guard(body, signal), { objectMode: false }) },
      partSize: this.options.partSize ?? 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      await upload.done();
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (status === 403 || (err as Error)?.name === 'AccessDenied') this.fail(err, key);
      throw new DatastoreWriteAbortedError(this.name, key, { cause: err });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return this.stat(key);
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.call(key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }
}

async function* guard(body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    signal?.throwIfAborted();
    yield chunk;
  }
}
