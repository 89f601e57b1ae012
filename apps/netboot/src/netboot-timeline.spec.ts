import { Logger } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { ManualClock } from '@bm/core';
import type { EnrolledMac, InstanceRow, NodeEventInput, NodeEventRepository, NodeRepository } from '@bm/db';
import type { DhcpLogEntry } from '@bm/dhcp';
import type { TransferStats } from '@bm/tftp';
import { MAC_CACHE_MS, NetbootTimeline } from './netboot-timeline';

const MAC = '52:54:00:77:00:31';
const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const CONFIG = { default: { host: 'cn1' } } as unknown as BmConfig;

function world(o: { record?: 'reject' | 'throw' | 'hang'; lookup?: 'reject' } = {}) {
  const clock = new ManualClock(1_000_000);
  const events: NodeEventInput[] = [];
  const queries: string[] = [];
  const nodes = {
    enrolledMacs: async (host: string): Promise<EnrolledMac[]> => {
      queries.push(`enrolledMacs ${host}`);
      if (o.lookup === 'reject') throw new Error('database away');
      return [
        { address: '52:54:00:77:00:30', node_id: 6 },
        { address: MAC.toUpperCase(), node_id: 7 },
      ];
    },
    instances: async (f: { instanceUuid?: string }) => {
      queries.push(`instances ${f.instanceUuid}`);
      return (f.instanceUuid === INSTANCE ? [{ instance_uuid: INSTANCE, node_id: 7 }] : []) as InstanceRow[];
    },
  };
  const repo = {
    record: (e: NodeEventInput) => {
      if (o.record === 'throw') throw new Error('no pool');
      if (o.record === 'reject') return Promise.reject(new Error('insert refused'));
      if (o.record === 'hang') return new Promise(() => undefined);
      events.push(e);
      return Promise.resolve();
    },
  };
  const timeline = new NetbootTimeline(
    CONFIG,
    nodes as unknown as NodeRepository,
    repo as unknown as NodeEventRepository,
    clock,
  );
  return { clock, events, queries, timeline };
}

/** Lets the lookups and inserts (not awaited by the DHCP or TFTP server) run. */
const settle = () => new Promise((r) => setImmediate(r));

const dhcp = (e: Partial<DhcpLogEntry>): DhcpLogEntry => ({
  event: 'offer',
  mac: MAC,
  xid: 1,
  message: 'DISCOVER',
  nodeId: '7',
  client: 'pxe',
  ...e,
});

const transfer = (path: string | undefined, s: Partial<TransferStats> = {}): TransferStats => ({
  client: '10.77.0.50:2070',
  file: path ?? '../etc/passwd',
  ...(path !== undefined ? { path } : {}),
  request: 'RRQ',
  mode: 'octet',
  bytes: 4096,
  blocks: 3,
  retransmits: 0,
  durationMs: 42,
  outcome: 'complete',
  blksize: 1468,
  windowsize: 1,
  ...s,
});

describe('NetbootTimeline', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => (warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined)));
  afterEach(() => jest.restoreAllMocks());

  describe('DHCP', () => {
    it('records offers and acks to an enrolled MAC: address and boot file, no lookup', async () => {
      const w = world();
      w.timeline.dhcp(dhcp({ ip: '10.77.0.50', bootfile: 'pxelinux.0' }));
      w.timeline.dhcp(dhcp({ event: 'ack', message: 'REQUEST', ip: '10.77.0.50', bootfile: 'pxelinux.0' }));
      w.timeline.dhcp(dhcp({ event: 'ack', proxy: true, client: 'ipxe', relay: '10.77.1.1', bootfile: 'x.ipxe' }));
      await settle();
      expect(w.events).toEqual([
        {
          nodeId: 7,
          source: 'netboot',
          kind: 'dhcp.offer',
          detail: `offer 10.77.0.50 to ${MAC}, boot file pxelinux.0 (pxe client)`,
        },
        {
          nodeId: 7,
          source: 'netboot',
          kind: 'dhcp.ack',
          detail: `ack 10.77.0.50 to ${MAC}, boot file pxelinux.0 (pxe client)`,
        },
        {
          nodeId: 7,
          source: 'netboot',
          kind: 'dhcp.ack',
          detail: `ack to ${MAC}, boot file x.ipxe (proxy, ipxe client, via relay 10.77.1.1)`,
        },
      ]);
      expect(w.queries).toEqual([]);
    });

    it('records nothing for unknown MACs nor for other DHCP events', async () => {
      const w = world();
      w.timeline.dhcp(dhcp({ event: 'ignored-unenrolled', nodeId: undefined }));
      w.timeline.dhcp(dhcp({ nodeId: undefined, ip: '10.77.0.51' }));
      for (const event of ['nak', 'release', 'decline', 'inform', 'ignored', 'other-server-seen'] as const)
        w.timeline.dhcp(dhcp({ event, ip: '10.77.0.50' }));
      await settle();
      expect(w.events).toEqual([]);
    });
  });

  describe('TFTP', () => {
    it("pxelinux.cfg/01-<mac>: the MAC's node, one event with bytes and duration", async () => {
      const w = world();
      w.timeline.tftp(transfer(`pxelinux.cfg/01-${MAC.replace(/:/g, '-')}`, { file: '/tftpboot/pxelinux.cfg/01-x' }));
      await settle();
      expect(w.events).toEqual([
        {
          nodeId: 7,
          source: 'netboot',
          kind: 'tftp.file',
          detail: '/tftpboot/pxelinux.cfg/01-x to 10.77.0.50 (blksize 1468, 0 retransmits)',
          durationMs: 42,
          bytes: 4096,
        },
      ]);
      expect(w.queries).toEqual(['enrolledMacs cn1']);
    });

    it('reads the enrolled MACs at most every MAC_CACHE_MS', async () => {
      const w = world();
      const cfg = `pxelinux.cfg/01-${MAC.replace(/:/g, '-').toUpperCase()}`;
      w.timeline.tftp(transfer(cfg));
      await settle();
      w.clock.advance(MAC_CACHE_MS - 1);
      w.timeline.tftp(transfer(cfg));
      w.timeline.tftp(transfer('pxelinux.cfg/01-52-54-00-77-00-30'));
      await settle();
      w.clock.advance(1);
      w.timeline.tftp(transfer(cfg));
      await settle();
      expect(w.events.map((e) => e.nodeId)).toEqual([7, 7, 6, 7]);
      expect(w.queries).toEqual(['enrolledMacs cn1', 'enrolledMacs cn1']);
    });

    it("<instance_uuid>/…: the instance's node and the instance", async () => {
      const w = world();
      w.timeline.tftp(transfer(`${INSTANCE}/deploy_ramdisk`, { bytes: 7_340_032, durationMs: 900 }));
      await settle();
      expect(w.events).toEqual([
        expect.objectContaining({
          nodeId: 7,
          kind: 'tftp.file',
          instanceUuid: INSTANCE,
          bytes: 7_340_032,
          durationMs: 900,
        }),
      ]);
    });

    it('a top-level file (the boot loader): the node our DHCP acked the client address to', async () => {
      const w = world();
      w.timeline.dhcp(dhcp({ event: 'ack', ip: '10.77.0.50', bootfile: 'pxelinux.0' }));
      w.timeline.tftp(transfer('pxelinux.0', { client: '10.77.0.50:2070' }));
      w.timeline.tftp(transfer('ldlinux.c32', { client: '10.77.0.50:2071' }));
      w.timeline.tftp(transfer('pxelinux.0', { client: '10.77.0.99:2070' })); // never acked by us
      await settle();
      expect(w.events.map((e) => [e.kind, e.nodeId, e.detail.split(' ')[0]])).toEqual([
        ['dhcp.ack', 7, 'ack'],
        ['tftp.file', 7, 'pxelinux.0'],
        ['tftp.file', 7, 'ldlinux.c32'],
      ]);
      expect(w.queries).toEqual([]);
    });

    it('a failed transfer is tftp.error with the outcome and the error', async () => {
      const w = world();
      w.timeline.tftp(
        transfer(`${INSTANCE}/kernel`, { outcome: 'timeout', bytes: 1024, error: 'no ACK after 5 retransmissions' }),
      );
      await settle();
      expect(w.events).toEqual([
        expect.objectContaining({
          kind: 'tftp.error',
          detail: `${INSTANCE}/kernel timeout after 1024 bytes to 10.77.0.50: no ACK after 5 retransmissions`,
          bytes: 1024,
        }),
      ]);
    });

    it("records nothing for files of no node, refused names, other instances and a PXE ROM's size probe", async () => {
      const w = world();
      w.timeline.tftp(transfer('pxelinux.cfg/default'));
      w.timeline.tftp(transfer('pxelinux.cfg/C0A8004D', { outcome: 'error', error: 'file not found' }));
      w.timeline.tftp(transfer('pxelinux.cfg/01-52-54-00-99-99-99'));
      w.timeline.tftp(transfer(undefined, { outcome: 'error', error: 'file name escapes the TFTP root' }));
      w.timeline.tftp(transfer('0b6ac7d1-0000-4d9a-8d0e-5a1c2b3c4d5e/kernel'));
      w.timeline.tftp(transfer('images/kernel'));
      w.timeline.dhcp(dhcp({ event: 'ack', ip: '10.77.0.50' }));
      w.timeline.tftp(
        transfer('pxelinux.0', { outcome: 'aborted', bytes: 0, error: 'client sent ERROR 8: tsize probe' }),
      );
      await settle();
      expect(w.events.map((e) => e.kind)).toEqual(['dhcp.ack']);
    });
  });

  describe('never in the way', () => {
    it('returns at once, before the insert ends', () => {
      const w = world({ record: 'hang' });
      expect(w.timeline.dhcp(dhcp({ ip: '10.77.0.50' }))).toBeUndefined();
      expect(w.timeline.tftp(transfer(`${INSTANCE}/kernel`))).toBeUndefined();
    });

    it.each(['reject', 'throw'] as const)('a failed insert (%s) is logged, not thrown', async (how) => {
      const w = world({ record: how });
      expect(() => w.timeline.dhcp(dhcp({ ip: '10.77.0.50' }))).not.toThrow();
      expect(() => w.timeline.tftp(transfer(`${INSTANCE}/kernel`))).not.toThrow();
      await settle();
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^timeline not written: (insert refused|no pool)$/));
    });

    it('a failed lookup is logged, not thrown', async () => {
      const w = world({ lookup: 'reject' });
      w.timeline.tftp(transfer(`pxelinux.cfg/01-${MAC.replace(/:/g, '-')}`));
      await settle();
      expect(w.events).toEqual([]);
      expect(warn).toHaveBeenCalledWith('timeline not written: database away');
    });
  });
});
