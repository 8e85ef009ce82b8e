import { describe, expectTypeOf, it } from 'vitest';
import type { WireTaskError } from '../../../comm/protocol/messages.ts';
import type { TaskErrorInfo } from '../../../shared/engine/task-error.ts';
import type { TaskErrorInfo as SchedulerTaskError } from '../../../scheduler/state/types.ts';
import type { TaskErrorInfo as WorkerTaskError } from '../../../worker/state/types.ts';
import type { TaskError } from '../../../client/errors.ts';

describe('Type: TaskErrorInfo', () => {
  it('is the one shape of a task error: the machines re-export it and the wire decoder checks exactly it', () => {
    // Type-level: `npx tsc --noEmit` fails when a field is renamed in one place only.
    expectTypeOf<SchedulerTaskError>().toEqualTypeOf<TaskErrorInfo>();
    expectTypeOf<WorkerTaskError>().toEqualTypeOf<TaskErrorInfo>();
    expectTypeOf<WireTaskError>().toEqualTypeOf<TaskErrorInfo>();
    expectTypeOf<ConstructorParameters<typeof TaskError>[1]>().toEqualTypeOf<TaskErrorInfo>();
  });
});
