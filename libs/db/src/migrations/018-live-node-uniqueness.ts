import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The unique indexes this migration adds; their names are what a unique violation reports. */
export const LIVE_INSTANCE_INDEX = 'bm_nodes_live_instance_uuid_ux';
export const LIVE_BMC_INDEX = 'bm_nodes_live_pm_address_ux';
/** The rows the instance rule covers: live nodes carrying an instance, but for those in error. */
const LIVE_INSTANCE_WHERE = `deleted = false AND instance_uuid IS NOT NULL AND task_state IS DISTINCT FROM 'error'`;

/**
 * Ours: among live nodes (deleted = false), one instance is on at most one node and one BMC
 * address (compared case-insensitively, with its `:port`, as enrollment compares it) manages at
 * most one node. Before, only compute's claim and enrollment's checks kept this true, and a race
 * past them put one instance on two nodes (sharing `<tftp_root>/<instance>/`).
 *
 * A node in `error` does not count for the instance: it keeps the instance it failed with (as
 * Nova's spawn left it when its cleanup could not power the node off) while that instance is
 * rescheduled onto another node; no event leads from `error` back to a state that uses the
 * instance, so the rule cannot be broken by leaving `error`.
 *
 * A database that already breaks the rule is not repaired here: which node really carries the
 * instance, or which row is the BMC's, is the operator's call. The migration fails naming the
 * rows, and nothing is changed.
 */
export class LiveNodeUniqueness1700000000018 implements MigrationInterface {
  name = 'LiveNodeUniqueness1700000000018';

  async up(q: QueryRunner): Promise<void> {
    const instances: { key: string; ids: number[] }[] = await q.query(
      `SELECT instance_uuid AS key, array_agg(id ORDER BY id) AS ids FROM bm_nodes
        WHERE ${LIVE_INSTANCE_WHERE} GROUP BY instance_uuid HAVING count(*) > 1 ORDER BY 1`,
    );
    const bmcs: { key: string; ids: number[] }[] = await q.query(
      `SELECT lower(pm_address) AS key, array_agg(id ORDER BY id) AS ids FROM bm_nodes
        WHERE deleted = false AND pm_address IS NOT NULL GROUP BY lower(pm_address) HAVING count(*) > 1 ORDER BY 1`,
    );
    const clashes = [
      ...instances.map((r) => `instance ${r.key} is on live nodes ${r.ids.join(', ')}`),
      ...bmcs.map((r) => `BMC ${r.key} manages live nodes ${r.ids.join(', ')}`),
    ];
    if (clashes.length)
      throw new Error(
        `schema version 18 needs each instance and each BMC address on at most one live node: ${clashes.join('; ')}. ` +
          'Release or delete the extra nodes (bmctl), then sync again.',
      );
    await q.query(
      `CREATE UNIQUE INDEX ${LIVE_INSTANCE_INDEX} ON bm_nodes (instance_uuid) WHERE ${LIVE_INSTANCE_WHERE}`,
    );
    await q.query(
      `CREATE UNIQUE INDEX ${LIVE_BMC_INDEX} ON bm_nodes (lower(pm_address))
        WHERE deleted = false AND pm_address IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ${LIVE_BMC_INDEX}`);
    await q.query(`DROP INDEX ${LIVE_INSTANCE_INDEX}`);
  }
}
