import { DeployWaits } from './deploy-waits';

describe('DeployWaits', () => {
  it('a wait ends at its timeout, or at once when its node is woken; other nodes sleep on', async () => {
    const w = new DeployWaits();
    const t0 = Date.now();
    const order: string[] = [];
    const a = w.wait(1, 5000).then(() => order.push('node 1'));
    const a2 = w.wait(1, 5000).then(() => order.push('node 1 again'));
    const b = w.wait(2, 60).then(() => order.push('node 2'));
    expect(w.size).toBe(3);
    expect(w.wake(1)).toBe(2);
    await Promise.all([a, a2]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(w.size).toBe(1);
    await b;
    expect(order).toEqual(['node 1', 'node 1 again', 'node 2']);
    expect(w.size).toBe(0);
  });

  it("a wake with nobody waiting is kept for that node's next wait (no lost event), once", async () => {
    const w = new DeployWaits();
    expect(w.wake(3)).toBe(0);
    const t0 = Date.now();
    await w.wait(3, 5000);
    expect(Date.now() - t0).toBeLessThan(100);
    const second = w.wait(3, 50);
    expect(w.size).toBe(1); // used up: the next wait sleeps
    await second;
  });
});
