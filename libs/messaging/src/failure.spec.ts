import { NoSuchMethod, toFailure } from './errors';

// What a remote caller gets of our failures (oslo's `failure`: class, module, message, tb).
describe('toFailure: what a remote caller sees of an error', () => {
  function deep(): never {
    const o: { missing?: { x: number } } = {};
    return o.missing!.x as never; // a TypeError from our own code, with a stack full of our paths
  }

  it('a one-line traceback with the class and the message, and no file path of ours', () => {
    let err: unknown;
    try {
      deep();
    } catch (e) {
      err = e;
    }
    expect((err as Error).stack).toContain(__filename); // what it would have leaked
    const f = toFailure(err);
    expect(f.class).toBe('TypeError');
    expect(f.message).toMatch(/Cannot read properties of undefined/);
    expect(f.tb).toEqual([`TypeError: ${f.message}\n`]);
    expect(JSON.stringify(f)).not.toMatch(/failure\.spec|\/work\/|node_modules| at /);
  });

  it('a message with line breaks or escapes (a method name sent by the caller) stays one line in tb', () => {
    const f = toFailure(new NoSuchMethod('power_on\n  File "/srv/nova/x.py", line 1\u001b[2J'));
    expect(f.tb).toHaveLength(1);
    expect(f.tb[0].split('\n')).toEqual([expect.stringContaining('power_on\\n  File'), '']);
    expect(f.tb[0]).toContain('\\x1b[2J');
    expect(f.message).toContain('power_on\n'); // the message itself is the caller's to show as it came
  });
});
