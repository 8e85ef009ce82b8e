import { ReccError } from '../../shared/core/errors.ts';

/** Why an envelope was refused; the bridge logs it and, when it knows where, tells the sender. */
export type EnvelopeProblem =
  /** Not base64, not msgpack, or not a map: nothing in it can be trusted (not even the session). */
  | 'undecodable'
  /** A version this side does not speak. */
  | 'unsupported-version'
  /** A field is missing or of the wrong type (`path` names it). */
  | 'invalid-field'
  /** The body lives in S3 and the object is not there (expired, deleted, never written). */
  | 'missing-payload'
  /** The envelope names another cluster, or a reply queue that is not this cluster's. */
  | 'foreign-session'
  /** Too large even for an S3 pointer, or a body over the inline limit. */
  | 'too-large';

/**
 * An SQS envelope broke the envelope protocol. `problem` says how, `path`
 * where (`b.m[2].tasks[0].fn`). Shown to the sender (statusCode 400): the
 * message names the field and never echoes the payload.
 */
export class EnvelopeError extends ReccError {
  readonly problem: EnvelopeProblem;
  readonly path: string;

  constructor(problem: EnvelopeProblem, path: string, message: string, options: { cause?: unknown } = {}) {
    super(`bad envelope: ${path ? `${path}: ` : ''}${message}`, { statusCode: 400, details: [{ path, message }], ...options });
    this.problem = problem;
    this.path = path;
  }
}
