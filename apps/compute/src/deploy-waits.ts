/**
 * Wake-ups for spawns waiting on a node's deploy: the spawn sleeps until the next poll (or its
 * deadline), and a deploy_state_changed cast from the deploy helper, or a terminate of the same
 * instance, wakes it at once to re-read the row.
 */
export class DeployWaits {
  private readonly waiting = new Map<number, Set<() => void>>();

  /** Resolves after `ms`, or earlier when `wake(nodeId)` is called. */
  wait(nodeId: number, ms: number): Promise<void> {
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
    if (!set) return 0;
    const n = set.size;
    for (const done of [...set]) done();
    return n;
  }

  /** Spawns waiting now (for tests and shutdown). */
  get size(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }
}
