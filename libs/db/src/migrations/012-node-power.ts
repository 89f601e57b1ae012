import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Ours: the power sync's record per node (state, latency, errors, back-off). */
export class NodePower1700000000012 implements MigrationInterface {
  name = 'NodePower1700000000012';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bm_node_power (
        node_id       integer NOT NULL,
        power_state   varchar(16),
        checked_at    timestamp NOT NULL,
        latency_ms    integer,
        error         text,
        failures      integer NOT NULL DEFAULT 0,
        next_check_at timestamp NOT NULL,
        changed_at    timestamp,
        CONSTRAINT bm_node_power_pkey PRIMARY KEY (node_id),
        CONSTRAINT bm_node_power_node_id_fkey FOREIGN KEY (node_id) REFERENCES bm_nodes (id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE bm_node_power`);
  }
}
