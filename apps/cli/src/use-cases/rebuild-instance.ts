import type { Clock } from '@bm/core';
import type { InstanceRow } from '@bm/db';
import { CliError } from '../errors';

export interface RebuildRequest {
  /** The instance: uuid or name. */
  instance: string;
  /**
   * The image to deploy (Nova's image meta: id, name, properties with kernel_id and ramdisk_id);
   * none: the image the node has now (bm_nodes.image_path), read again by compute.
   */
  image?: Record<string, unknown>;
  /** Keep the ephemeral partition (nova rebuild --preserve-ephemeral). */
  preserveEphemeral: boolean;
  /**
   * The flavor as Nova's request spec carries it, when the instance was booted with one whose
   * extra specs name the deploy pair (`baremetal:deploy_*_id`): compute reads them there.
   */
  flavor?: Record<string, unknown>;
  /** Wait until the node is active again (a call), or return once the request is sent (a cast). */
  wait: boolean;
  timeoutS: number;
}

/** compute's rebuild_instance arguments, as Nova's compute RPC API takes them. */
export interface RebuildArgs {
  instance: Record<string, unknown>;
  image?: Record<string, unknown>;
  image_ref?: string;
  preserve_ephemeral: boolean;
  request_spec?: Record<string, unknown>;
}

export interface RebuildPorts {
  /** The instance's row; InstanceNotFound when there is none. */
  findInstance(ref: string): Promise<InstanceRow>;
  /** The instance's row by uuid now, for the progress (undefined once it left its node). */
  readInstance(uuid: string): Promise<InstanceRow | undefined>;
  /** The image on the node now (bm_nodes.image_path). */
  currentImage(nodeId: number): Promise<string | null>;
  /** rebuild_instance to `host`: a call that returns once the node is active again, or a cast. */
  rebuild(host: string, args: RebuildArgs, o: { wait: boolean; timeoutS: number }): Promise<unknown>;
  clock: Clock;
  progress(line: string): void;
}

/**
 * `nova rebuild` against the baremetal driver: the image deployed again on the instance's own
 * node (compute's rebuild_instance: active → building → … → active). Waiting, it is a call with
 * a call-monitor, so compute's failure comes back as the error; meanwhile the node's state in
 * nova_bm is read for the progress. Without waiting, it is a cast, as Nova's API sends it.
 */
export class RebuildInstance {
  constructor(private readonly p: RebuildPorts) {}

  /** The instance's row once active again (waiting), or as it was when the request went (not). */
  async run(r: RebuildRequest): Promise<InstanceRow> {
    const row = await this.p.findInstance(r.instance);
    // Compute refuses it too, but a cast would fail where nobody sees it.
    if (row.task_state !== 'active')
      throw new CliError(
        `instance ${row.instance_uuid} is ${row.task_state ?? 'in no state'}: only an active instance can be rebuilt`,
        'invalid',
      );
    let imageRef: string | undefined;
    if (!r.image) {
      imageRef = (await this.p.currentImage(row.node_id)) ?? undefined;
      if (!imageRef)
        throw new CliError(
          `node ${row.node_uuid} records no image for instance ${row.instance_uuid}: give --image`,
          'invalid',
        );
    }
    const args: RebuildArgs = {
      instance: { uuid: row.instance_uuid, ...(row.instance_name ? { hostname: row.instance_name } : {}) },
      ...(r.image ? { image: r.image } : { image_ref: imageRef }),
      preserve_ephemeral: r.preserveEphemeral,
      ...(r.flavor ? { request_spec: { instance_type: r.flavor } } : {}),
    };
    const label = `instance ${row.instance_uuid} (${row.instance_name ?? ''})`;
    if (!r.wait) {
      await this.p.rebuild(row.service_host, args, { wait: false, timeoutS: r.timeoutS });
      this.p.progress(`${label}: rebuild requested on node ${row.node_uuid}`);
      return row;
    }
    this.p.progress(`${label}: rebuild on node ${row.node_uuid} on ${row.service_host}`);
    let done = false;
    const call = this.p.rebuild(row.service_host, args, { wait: true, timeoutS: r.timeoutS }).finally(() => {
      done = true;
    });
    const watch = this.follow(row, label, () => done);
    try {
      await call;
    } finally {
      done = true;
      await watch;
    }
    const after = await this.p.readInstance(row.instance_uuid);
    this.p.progress(`${label}: ${after?.task_state ?? 'gone from its node'}`);
    if (!after) throw new CliError(`${label} left its node during the rebuild`, 'failed');
    return after;
  }

  /** Reports each state the node goes through until `finished()`. */
  private async follow(row: InstanceRow, label: string, finished: () => boolean): Promise<void> {
    let last: string = row.task_state ?? '';
    while (!finished()) {
      await this.p.clock.sleep(250);
      if (finished()) return;
      const now = await this.p.readInstance(row.instance_uuid).catch(() => undefined);
      // A read that failed or found nothing (the row between two states) says nothing new.
      if (now && (now.task_state ?? '') !== last) {
        last = now.task_state ?? '';
        this.p.progress(`${label}: ${last || 'no state'}`);
      }
    }
  }
}
