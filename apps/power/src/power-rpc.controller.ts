import { Inject, Logger, Optional } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type BootDeviceState,
  NodeArgs,
  POWER,
  PowerCallArgs,
  type PowerStateResult,
  SetBootDeviceArgs,
  patternOf,
} from '@bm/contracts';
import { NodeRepository, PowerRecordRepository } from '@bm/db';
import { ADMIN_ONLY, OsloController } from '@bm/messaging';
import { type PowerCallOptions, PowerManager, type PowerState, type PowerTarget } from '@bm/power';
import { type PowerEventKind, PowerTimeline } from './power-timeline';

const m = (method: keyof typeof POWER.methods) => patternOf(POWER, method);
const stateIs = (s: PowerState) => `node is ${s}`;
/** The caller's wait (`timeout`, seconds), counted from now: the work is abandoned past it. */
const callOf = (a: PowerCallArgs): PowerCallOptions => (a.timeout ? { timeoutMs: a.timeout * 1000 } : {});

/**
 * The power service's RPC API (libs/contracts POWER). Credentials are read from nova_bm for each
 * call (never cached, never logged); PowerManager gives Nova's on/off/reboot semantics, one
 * operation per node at a time, each abandoned once its caller's `timeout` (seconds, sent by
 * PowerClient) is up. Every call on a node goes on its timeline (PowerTimeline), failed and
 * abandoned ones too; an unknown node has none. Whatever changes a node's power or boot device
 * is ADMIN_ONLY (the context's roles must hold `[DEFAULT] rpc_admin_role`).
 */
@OsloController()
export class PowerRpcController {
  private readonly log = new Logger('power');
  constructor(
    @Inject(PowerManager) private readonly power: PowerManager,
    private readonly nodes: NodeRepository,
    private readonly timeline: PowerTimeline,
    @Optional() private readonly records?: PowerRecordRepository,
  ) {}

  @MessagePattern(m('getPowerState'))
  getPowerState(@Payload() a: NodeArgs) {
    return this.act(a, 'power.state', 'power state read', (t) => this.power.getPowerState(t));
  }

  @MessagePattern(m('powerOn'), ADMIN_ONLY)
  powerOn(@Payload() a: PowerCallArgs) {
    return this.act(a, 'power.on', 'power on', (t) => this.power.powerOn(t, callOf(a)));
  }

  @MessagePattern(m('powerOff'), ADMIN_ONLY)
  powerOff(@Payload() a: PowerCallArgs) {
    return this.act(a, 'power.off', 'power off', (t) => this.power.powerOff(t, callOf(a)));
  }

  /** Nova's reboot_node: off, boot device PXE (persistent), on. */
  @MessagePattern(m('reboot'), ADMIN_ONLY)
  reboot(@Payload() a: PowerCallArgs) {
    return this.act(a, 'power.reboot', 'reboot (off, boot device pxe persistent, on)', (t) =>
      this.power.reboot(t, callOf(a)),
    );
  }

  @MessagePattern(m('setBootDevice'), ADMIN_ONLY)
  async setBootDevice(@Payload() a: SetBootDeviceArgs) {
    const t = await this.nodes.powerTarget(a.node);
    const o = { persistent: a.persistent ?? false, efi: a.efi ?? false };
    const what = `boot device ${a.device}${o.persistent ? ' persistent' : ''}${o.efi ? ' efi' : ''}`;
    await this.timeline.call(t, 'power.boot_device', what, () => this.power.setBootDevice(t, a.device, o, callOf(a)));
    return { node: t.uuid, boot_device: a.device, ...o };
  }

  /** What the BMC holds as boot device (a read: not queued behind the node's operations, not ADMIN_ONLY). */
  @MessagePattern(m('getBootDevice'))
  async getBootDevice(@Payload() a: NodeArgs): Promise<BootDeviceState> {
    const t = await this.nodes.powerTarget(a.node);
    const f = await this.timeline.call(
      t,
      'power.boot_device',
      'boot device read',
      () => this.power.getBootDevice(t),
      (b) => (b.valid ? `${b.device}${b.persistent ? ' persistent' : ''}${b.efi ? ' efi' : ''}` : 'none set'),
    );
    return { node: t.uuid, boot_device: f.device, persistent: f.persistent, efi: f.efi, valid: f.valid };
  }

  /** One power action on the node `a` names, on its timeline; answers with the node's power state after it. */
  private async act(
    a: NodeArgs,
    kind: PowerEventKind,
    what: string,
    action: (t: PowerTarget) => Promise<PowerState>,
  ): Promise<PowerStateResult> {
    const t = await this.nodes.powerTarget(a.node);
    const state = await this.timeline.call(t, kind, what, () => action(t), stateIs);
    // The power record follows what the call saw (best effort: the answer does not wait on it).
    void this.records
      ?.observed(t.id, state, new Date())
      .catch((e: unknown) => this.log.warn(`node ${t.id}: power record not updated: ${(e as Error).message}`));
    return { node: t.uuid, power_state: state };
  }
}
