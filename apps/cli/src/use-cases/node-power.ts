import type { BootDeviceResult, BootDeviceState, PowerClient, PowerStateResult } from '@bm/contracts';

/** What `bmctl node power` asks of each node. */
export const NODE_POWER_ACTIONS = ['on', 'off', 'reboot', 'status'] as const;
export type NodePowerAction = (typeof NODE_POWER_ACTIONS)[number];

/** A node named on the command line, resolved: its id, uuid and the compute host whose power service drives it. */
export interface NodeTarget {
  id: number;
  uuid: string;
  /** The host of the node's power and netboot services (bm_nodes.service_host). */
  host: string;
}

/** One node's outcome: its power state after the action, or why it failed. */
export interface NodePowerRow {
  /** As named on the command line. */
  node: string;
  uuid: string | null;
  power_state: string | null;
  error: string | null;
}

export type PowerPort = Pick<
  PowerClient,
  'getPowerState' | 'powerOn' | 'powerOff' | 'reboot' | 'setBootDevice' | 'getBootDevice'
>;

export interface NodePowerPorts {
  /** A node by id or UUID (NodeNotFound otherwise). */
  resolve(ref: string): Promise<NodeTarget>;
  /** The power service of `host`. */
  power(host: string): PowerPort;
}

/** How many nodes are asked at once: the power service runs one operation per node anyway. */
const CONCURRENCY = 8;

/** An error as one line: its class, then its message (a remote one keeps its remote class name). */
export function errorLine(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
}

/**
 * `bmctl node power on|off|reboot|status NODE…`: each node through the power service of its
 * compute host, which opens its BMC with the stored credentials (never given here). Every node
 * gets a row, in the order named (a node named twice once): its power state after the action,
 * or the error that stopped it; one node's failure does not stop the others.
 */
export class NodePower {
  constructor(private readonly ports: NodePowerPorts) {}

  async run(refs: readonly string[], action: NodePowerAction): Promise<NodePowerRow[]> {
    // Resolved first: `1` and its UUID name one node, acted on once and reported once.
    const named: { ref: string; target?: NodeTarget; error?: string }[] = [];
    const ids = new Set<number>();
    for (const ref of new Set(refs)) {
      try {
        const target = await this.ports.resolve(ref);
        if (ids.has(target.id)) continue;
        ids.add(target.id);
        named.push({ ref, target });
      } catch (e) {
        named.push({ ref, error: errorLine(e) });
      }
    }
    return mapLimit(named, CONCURRENCY, async ({ ref, target, error }) =>
      target ? this.act(ref, target, action) : { node: ref, uuid: null, power_state: null, error: error! },
    );
  }

  private async act(ref: string, t: NodeTarget, action: NodePowerAction): Promise<NodePowerRow> {
    const p = this.ports.power(t.host);
    try {
      const r: PowerStateResult =
        action === 'on'
          ? await p.powerOn(t.id)
          : action === 'off'
            ? await p.powerOff(t.id)
            : action === 'reboot'
              ? await p.reboot(t.id)
              : await p.getPowerState(t.id);
      return { node: ref, uuid: t.uuid, power_state: r.power_state, error: null };
    } catch (e) {
      return { node: ref, uuid: t.uuid, power_state: null, error: errorLine(e) };
    }
  }
}

/** `fn` over `items`, at most `limit` at a time; the results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `bmctl node boot-device set`: one node's boot device through its power service. */
export async function setBootDevice(
  ports: NodePowerPorts,
  ref: string,
  device: BootDeviceResult['boot_device'],
  o: { persistent: boolean; efi: boolean },
): Promise<BootDeviceResult> {
  const t = await ports.resolve(ref);
  return ports.power(t.host).setBootDevice(t.id, device, o);
}

/** `bmctl node boot-device show`: what the node's BMC holds. */
export async function showBootDevice(ports: NodePowerPorts, ref: string): Promise<BootDeviceState> {
  const t = await ports.resolve(ref);
  return ports.power(t.host).getBootDevice(t.id);
}
