import { type Clock, namedError, systemClock } from '@bm/core';

/** The caller's deadline passed before a power operation could run or finish: it was abandoned. */
export class PowerDeadlinePassed extends namedError('PowerDeadlinePassed', 'timeout') {}

/**
 * One lane per node: operations on one node run one at a time, in the order they came, while
 * different nodes proceed in parallel. An operation whose deadline has passed by the time its
 * turn comes is not run at all (its caller has given up and may already have sent the next one).
 */
export class NodeLanes {
  private readonly tails = new Map<number, Promise<void>>();

  constructor(private readonly clock: Clock = systemClock) {}

  run<T>(node: number, what: string, deadlineAt: number | undefined, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(node) ?? Promise.resolve();
    const mine = before.then(() => {
      if (deadlineAt !== undefined && this.clock.now() >= deadlineAt)
        throw new PowerDeadlinePassed(
          `node ${node}: ${what} not started: its caller's deadline passed while it waited`,
        );
      return fn();
    });
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(node, tail);
    // The map holds only nodes with work queued or running.
    void tail.then(() => this.tails.get(node) === tail && this.tails.delete(node));
    return mine;
  }

  /** Nodes with an operation running or waiting. */
  get busy(): number {
    return this.tails.size;
  }
}
