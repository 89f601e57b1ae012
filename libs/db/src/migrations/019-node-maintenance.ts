import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours: a node in maintenance (Ironic's `maintenance`, `maintenance_reason`): the operator has
 * taken it out of service. The scheduler does not place an instance on it, compute's claim
 * refuses it and compute reports its resources as unavailable; power and the node's instance,
 * if any, are left alone. `maintenance_at` is when it was put in maintenance (naive UTC, as
 * every nova_bm timestamp). The flag is NOT NULL: a NULL would read as neither in nor out.
 */
export class NodeMaintenance1700000000019 implements MigrationInterface {
  name = 'NodeMaintenance1700000000019';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE bm_nodes
      ADD COLUMN maintenance boolean NOT NULL DEFAULT false,
      ADD COLUMN maintenance_reason text,
      ADD COLUMN maintenance_at timestamp`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE bm_nodes
      DROP COLUMN maintenance_at,
      DROP COLUMN maintenance_reason,
      DROP COLUMN maintenance`);
  }
}
