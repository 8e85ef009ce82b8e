import { ReccError, type ErrorDetail } from '../shared/core/errors.ts';

/** The transport failed: a peer sent a malformed frame, closed early, or could not be reached. */
export class CommError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 503, ...options });
  }
}

/** A frame could not be parsed (bad length, bad msgpack). The peer is dropped. */
export class MalformedFrameError extends CommError {}

/** The peer closed the connection (or it was closed locally) while a reply was pending. */
export class CommClosedError extends CommError {}

/**
 * The listener accepted the TCP connection, then dropped it before the
 * handshake reply: typically it is shedding unauthenticated connections
 * (comm/admission.ts). Worth retrying with backoff; other CommErrors may not be.
 */
export class ConnectionDroppedError extends CommError {}

/** The handshake token was rejected. Shown to the operator: the message never contains the token. */
export class AuthenticationError extends ReccError {
  constructor(message = 'the scheduler rejected the token', options: { cause?: unknown } = {}) {
    super(message, { statusCode: 401, ...options });
  }
}

/** An address is not `tcp://host:port` or `tls://host:port`. */
export class InvalidAddressError extends ReccError {
  constructor(address: string) {
    super(`invalid address "${address}": expected tcp://host:port or tls://host:port`, {
      statusCode: 400,
      details: [{ path: 'address', message: 'expected tcp://host:port or tls://host:port' }],
    });
  }
}

/**
 * A message broke the wire protocol: unknown op, a missing field or one of
 * the wrong type. `op` and `path` (such as `tasks[3].deps[0]`) say where. The
 * receiver answers with an `error` message, logs it and keeps running.
 */
export class ProtocolError extends ReccError {
  readonly op: string;
  readonly path: string;

  constructor(op: string, path: string, problem: string, options: { cause?: unknown } = {}) {
    super(`bad "${op}" message: ${path ? `${path}: ` : ''}${problem}`, { statusCode: 400, details: [{ path, message: problem }], ...options });
    this.op = op;
    this.path = path;
  }
}

/**
 * A task value (arguments on the client, a result on the worker) holds
 * something that cannot travel: a function, a symbol, a WeakMap, a Promise, a
 * class instance whose methods would be lost… `details` has one entry per
 * offending path, such as `result.a[2].fn`.
 */
export class SerializationError extends ReccError {
  constructor(message: string, details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 400, details, ...options });
  }
}
