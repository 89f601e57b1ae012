import { randomUUID } from 'node:crypto';
import type { ComputeClient } from '@bm/contracts';
import { NoValidHost } from '@bm/domain';
import { type Notifier, type Priority, buildNotification, encodeEnvelope } from '@bm/messaging';
import { ScheduleInstances, named } from './schedule-instances';
import type { SelectDestinations } from './select-destinations';

describe("the scheduler names several instances of one request as Nova's API does", () => {
  const base = { uuid: 'u0', hostname: 'vm', display_name: 'vm', memory_mb: 512 };

  it('one instance keeps its name', () => {
    expect(named(base, 0, 1)).toBe(base);
  });

  it('of three, each is <name>-<n> (multi_instance_display_name_template %(name)s-%(count)d)', () => {
    expect([0, 1, 2].map((i) => named(base, i, 3))).toEqual([
      { ...base, hostname: 'vm-1', display_name: 'vm-1' },
      { ...base, hostname: 'vm-2', display_name: 'vm-2' },
      { ...base, hostname: 'vm-3', display_name: 'vm-3' },
    ]);
  });

  it('a missing or empty name stays as it is', () => {
    expect(named({ uuid: 'u0', hostname: '' }, 1, 2)).toEqual({ uuid: 'u0', hostname: '', display_name: undefined });
  });
});

describe('NoValidHost for a request of many instances', () => {
  // One 41 KiB cast asking for 1060 instances: Nova's per-instance notification with the whole
  // request spec made it 1060 notifications of 41 KiB each (about 44 MB on the broker).
  const uuids = Array.from({ length: 1060 }, () => randomUUID());
  const spec = {
    instance_properties: { uuid: uuids[0], hostname: 'vm', memory_mb: 512, vcpus: 1, root_gb: 10 },
    instance_type: { name: 'bm.small', memory_mb: 512, vcpus: 1, root_gb: 10, extra_specs: {} },
    image: { id: 'img' },
    instance_uuids: uuids,
    num_instances: uuids.length,
  };
  const castBytes = Buffer.byteLength(JSON.stringify({ request_spec: spec, filter_properties: {} }));

  async function notificationsOf(): Promise<
    { eventType: string; priority: string; payload: unknown; bytes: number }[]
  > {
    const sent: { eventType: string; priority: string; payload: unknown; bytes: number }[] = [];
    const notify = (priority: Priority) => async (eventType: string, payload: unknown) => {
      const bytes = encodeEnvelope(
        buildNotification({ publisherId: 'scheduler.h', eventType, priority, payload }),
      ).length;
      sent.push({ eventType, priority, payload, bytes });
    };
    const notifier = { info: notify('info'), error: notify('error') } as unknown as Notifier;
    const select = {
      run: () => {
        throw new NoValidHost('0 of 3 nodes fit', []);
      },
    } as unknown as SelectDestinations;
    const compute = {} as ComputeClient;
    await new ScheduleInstances(select, compute, notifier).run({ request_spec: spec, filter_properties: {} });
    return sent;
  }

  it('sends one scheduler.run_instance ERROR per request, naming every instance, no bigger than the cast', async () => {
    expect(castBytes).toBeGreaterThan(40 * 1024);
    const errors = (await notificationsOf()).filter((n) => n.priority === 'error');
    expect(errors).toHaveLength(1);
    const p = errors[0].payload as { instance_id: string; instance_uuids: string[]; exception: string };
    expect(p.instance_id).toBe(uuids[0]);
    expect(p.instance_uuids).toEqual(uuids);
    expect(p.exception).toBe('NoValidHost');
    // The envelope JSON-encodes the message twice (its quotes escaped): a few % over the cast.
    expect(errors[0].bytes).toBeLessThan(1.1 * castBytes);
  });

  it('all notifications of the request together stay within a few times the cast', async () => {
    const total = (await notificationsOf()).reduce((sum, n) => sum + n.bytes, 0);
    expect(total).toBeLessThan(4 * castBytes);
  });
});
