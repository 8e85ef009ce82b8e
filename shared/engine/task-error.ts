/**
 * A task error as it travels between worker, scheduler and client: the
 * original name, message and remote stack. The one definition; the worker and
 * scheduler state machines, the wire protocol and the client import it.
 */
export interface TaskErrorInfo {
  name: string;
  message: string;
  stack?: string;
  /** Key of the task that actually failed, when this task erred because of a dependency. */
  blame?: string;
  /** A short, redacted repr of the arguments the failing call got (the worker writes it). */
  args?: string;
}
