import { Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  ActivateBootArgs,
  CleanArgs,
  NETBOOT,
  PrepareDeployArgs,
  ValidatePxeArgs,
  type ValidatePxeResult,
  patternOf,
} from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { InstanceNotFound } from '@bm/domain';
import { EnrollmentService } from '@bm/enrollment';
import { GlanceClient, ImageCache } from '@bm/images';
import { ADMIN_ONLY, OsloController } from '@bm/messaging';
import { PxeLayout } from '@bm/pxe';
import { BM_CONFIG } from '@bm/service';
import { PxeReadiness } from './pxe-readiness';

/**
 * The netboot service's RPC API (libs/contracts NETBOOT): the PXE side of Nova's
 * activate_bootloader / switch_pxe_config / deactivate_bootloader. Every method writes or removes
 * boot files: ADMIN_ONLY (the context's roles must hold `[DEFAULT] rpc_admin_role`).
 */
@OsloController()
export class NetbootRpcController {
  private readonly layout: PxeLayout;

  constructor(
    private readonly enrollment: EnrollmentService,
    private readonly images: ImageCache,
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly glance: GlanceClient,
  ) {
    this.layout = new PxeLayout(config.baremetal.tftp_root);
  }

  /**
   * Fetches the four images by id into the verified cache, then writes them, the deploy + boot
   * config (default deploy) and a 01-<mac> link per NIC (Nova's activate_bootloader).
   */
  @MessagePattern(patternOf(NETBOOT, 'prepareDeploy'), ADMIN_ONLY)
  async prepareDeploy(@Payload() a: PrepareDeployArgs) {
    const node = await this.enrollment.getNode(a.node);
    const files = await this.images.fetchAll({ ...a.images });
    const macs = node.interfaces.map((i) => i.address!);
    const path = await this.layout.prepare({
      instanceUuid: a.instance,
      nodeId: node.id,
      deployKey: a.deploy_key,
      appendParams: this.config.baremetal.pxe_append_params,
      macs,
      images: files,
    });
    return { node: node.uuid, pxe_config_path: path, macs };
  }

  /** The deploy is written: `default boot` with the root filesystem's UUID (switch_pxe_config). */
  @MessagePattern(patternOf(NETBOOT, 'activateBoot'), ADMIN_ONLY)
  async activateBoot(@Payload() a: ActivateBootArgs) {
    const node = await this.enrollment.getNode(a.node);
    if (!node.instance_uuid) throw new InstanceNotFound(`(none on node ${node.id})`);
    await this.layout.activateBoot(node.instance_uuid, a.root_uuid);
    return { node: node.uuid, instance: node.instance_uuid, root_uuid: a.root_uuid };
  }

  /**
   * Could a deploy's PXE files be written for the node now (bmctl node validate)? tftp_root, the
   * boot loader, the image cache and the deploy images asked about; nothing is written.
   */
  @MessagePattern(patternOf(NETBOOT, 'validatePxe'))
  async validatePxe(@Payload() a: ValidatePxeArgs): Promise<ValidatePxeResult> {
    const node = await this.enrollment.getNode(a.node);
    const readiness = new PxeReadiness({
      tftpRoot: this.config.baremetal.tftp_root,
      bootfile: this.config.baremetal.pxe_bootfile_name,
      imageCacheDir: this.images.dir,
      glance: this.glance,
    });
    return { node: node.uuid!, host: this.config.default.host, checks: await readiness.check(a.deploy_images) };
  }

  /** Removes the node's PXE files and links (deactivate_bootloader); safe to repeat. */
  @MessagePattern(patternOf(NETBOOT, 'clean'), ADMIN_ONLY)
  async clean(@Payload() a: CleanArgs) {
    const node = await this.enrollment.getNode(a.node);
    const instance = a.instance ?? node.instance_uuid;
    if (instance)
      await this.layout.clean(
        instance,
        node.interfaces.map((i) => i.address!),
      );
    return { node: node.uuid, instance: instance ?? null };
  }
}
