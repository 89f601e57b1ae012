import { Injectable, Logger } from '@nestjs/common';
import type { DeployStateChangedArgs } from '@bm/contracts';

/**
 * Wake-ups for spawns waiting on a node's deploy: the spawn sleeps until the next poll (or its
 * deadline), and a deploy_state_changed cast from the deploy helper, or a terminate of the same
 * instance, wakes it at once to re-read the row. A wake that finds nobody waiting is kept for the
 * node's next wait (the event may land between the spawn's read of the row and its sleep); at
 * worst that costs one extra read of the row.
 */
@Injectable()
export class DeployWaits {
  private readonly log = new Logger('deploy-waits');
  private readonly waiting = new Map<number, Set<() => void>>();
  private readonly pending = new Set<number>();

  /** Resolves after `ms`, or earlier when `wake(nodeId)` is called. */
  wait(nodeId: number, ms: number): Promise<void> {
    if (this.pending.delete(nodeId)) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiting.get(nodeId);
      if (!set) this.waiting.set(nodeId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(done);
        if (set!.size === 0 && this.waiting.get(nodeId) === set) this.waiting.delete(nodeId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** Wakes every spawn waiting on the node; returns how many there were. */
  wake(nodeId: number): number {
    const set = this.waiting.get(nodeId);
    if (!set) {
      this.pending.add(nodeId);
      return 0;
    }
    const n = set.size;
    for (const done of [...set]) done();
    return n;
  }

  /** The deploy helper's deploy_state_changed: wakes the spawn waiting on that node. */
  wakeFor(e: DeployStateChangedArgs): void {
    const woken = this.wake(e.node_id);
    this.log.debug(
      `deploy of ${e.instance_uuid} on node ${e.node_id}: ${String(e.task_state)} (${woken} spawn(s) woken)`,
    );
  }

  /** Spawns waiting now (for tests and shutdown). */
  get size(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }
}
