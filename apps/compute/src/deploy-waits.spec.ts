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
    expect(w.wake(2)).toBe(0);
  });
});
