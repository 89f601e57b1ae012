import { ManualClock } from '@bm/core';
import type { InstanceRow } from '@bm/db';
import { InstanceNotFound } from '@bm/domain';
import { CliError } from '../errors';
import { type RebuildArgs, RebuildInstance, type RebuildRequest } from './rebuild-instance';

// `bmctl rebuild`'s use case against fakes: compute's rebuild_instance recorded (a call the test
// settles, or a cast), the node's row moved by the test.
const UUID = '11111111-2222-4333-8444-555555555555';
const row = (task_state: string): InstanceRow =>
  ({
    instance_uuid: UUID,
    instance_name: 'vm1',
    task_state,
    node_id: 7,
    node_uuid: 'node-7',
    service_host: 'cn1',
  }) as unknown as InstanceRow;

function harness(o: { state?: string; image?: string | null } = {}) {
  const clock = new ManualClock();
  let state = o.state ?? 'active';
  const sent: { host: string; args: RebuildArgs; wait: boolean; timeoutS: number }[] = [];
  const lines: string[] = [];
  let settle: { ok: () => void; fail: (e: Error) => void } | undefined;
  const use = new RebuildInstance({
    findInstance: async (ref) => {
      if (ref !== 'vm1' && ref !== UUID) throw new InstanceNotFound(ref);
      return row(state);
    },
    readInstance: async () => (state === 'gone' ? undefined : row(state)),
    currentImage: async () => (o.image === undefined ? 'img-now' : o.image),
    rebuild: (host, args, w) => {
      sent.push({ host, args, ...w });
      if (!w.wait) return Promise.resolve();
      return new Promise<void>((ok, fail) => (settle = { ok, fail }));
    },
    clock,
    progress: (l) => lines.push(l),
  });
  /** Lets the poll loop take a turn at `s`, then moves the clock past its sleep. */
  const move = async (s: string) => {
    state = s;
    for (let i = 0; i < 5; i++) await Promise.resolve();
    clock.advance(250);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  /** compute answers the call (or fails it); the poll loop's sleep then ends. */
  const answer = async (how: (s: NonNullable<typeof settle>) => void) => {
    how(settle!);
    await move(state);
  };
  return { use, sent, lines, move, answer, setState: (s: string) => (state = s) };
}

const request = (o: Partial<RebuildRequest> = {}): RebuildRequest => ({
  instance: 'vm1',
  preserveEphemeral: false,
  wait: true,
  timeoutS: 600,
  ...o,
});

describe('RebuildInstance', () => {
  it('waiting: a call to the instance’s host, each state on the way reported, the row once active', async () => {
    const h = harness();
    const done = h.use.run(request({ flavor: { name: 'bm.small', extra_specs: {} }, preserveEphemeral: true }));
    await h.move('active');
    await h.move('building');
    await h.move('prepared');
    await h.move('prepared');
    await h.move('deploying');
    h.setState('active');
    await h.answer((c) => c.ok());
    await expect(done).resolves.toMatchObject({ instance_uuid: UUID, task_state: 'active' });
    expect(h.sent).toEqual([
      {
        host: 'cn1',
        wait: true,
        timeoutS: 600,
        args: {
          instance: { uuid: UUID, hostname: 'vm1' },
          image_ref: 'img-now',
          preserve_ephemeral: true,
          request_spec: { instance_type: { name: 'bm.small', extra_specs: {} } },
        },
      },
    ]);
    const label = `instance ${UUID} (vm1)`;
    expect(h.lines).toEqual([
      `${label}: rebuild on node node-7 on cn1`,
      `${label}: building`,
      `${label}: prepared`,
      `${label}: deploying`,
      `${label}: active`,
    ]);
  });

  it("compute's failure is the error", async () => {
    const h = harness();
    const done = h.use.run(request());
    await h.move('building');
    await h.answer((c) => c.fail(new Error('InstanceDeployFailure: PXE deploy timed out')));
    await expect(done).rejects.toThrow('InstanceDeployFailure: PXE deploy timed out');
  });

  it('--no-wait: a cast with the image given, the row as it was', async () => {
    const h = harness();
    const image = { id: 'img-2', properties: { kernel_id: 'k', ramdisk_id: 'r' } };
    await expect(h.use.run(request({ wait: false, image }))).resolves.toMatchObject({ task_state: 'active' });
    expect(h.sent).toEqual([
      {
        host: 'cn1',
        wait: false,
        timeoutS: 600,
        args: { instance: { uuid: UUID, hostname: 'vm1' }, image, preserve_ephemeral: false },
      },
    ]);
    expect(h.lines).toEqual([`instance ${UUID} (vm1): rebuild requested on node node-7`]);
  });

  it('refuses, sending nothing: an instance not active, a node with no image recorded, an unknown one', async () => {
    const busy = harness({ state: 'deploying' });
    await expect(busy.use.run(request({ wait: false }))).rejects.toThrow(
      new CliError(`instance ${UUID} is deploying: only an active instance can be rebuilt`, 'invalid'),
    );
    const bare = harness({ image: null });
    await expect(bare.use.run(request())).rejects.toThrow(
      new CliError(`node node-7 records no image for instance ${UUID}: give --image`, 'invalid'),
    );
    const none = harness();
    await expect(none.use.run(request({ instance: 'vm9' }))).rejects.toBeInstanceOf(InstanceNotFound);
    expect([...busy.sent, ...bare.sent, ...none.sent]).toEqual([]);
  });

  it('an instance that left its node during the rebuild fails it', async () => {
    const h = harness();
    const done = h.use.run(request());
    await h.move('building');
    h.setState('gone');
    await h.answer((c) => c.ok());
    await expect(done).rejects.toThrow(`instance ${UUID} (vm1) left its node during the rebuild`);
  });
});
