import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours: each node's timeline, one row per thing that happened to it (a power call, a DHCP offer,
 * a TFTP file, the deploy callback, a deploy step, a state change), written by the services and
 * read by `bmctl node timeline`.
 */
export class NodeEvents1700000000016 implements MigrationInterface {
  name = 'NodeEvents1700000000016';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bm_node_events (
        id            BIGSERIAL NOT NULL,
        node_id       integer NOT NULL,
        at            timestamp NOT NULL,
        source        varchar(32) NOT NULL,
        kind          varchar(64) NOT NULL,
        detail        text NOT NULL,
        duration_ms   integer,
        bytes         bigint,
        instance_uuid varchar(36),
        CONSTRAINT bm_node_events_pkey PRIMARY KEY (id),
        CONSTRAINT bm_node_events_node_id_fkey FOREIGN KEY (node_id) REFERENCES bm_nodes (id)
      )`);
    await q.query(`CREATE INDEX idx_bm_node_events_node_id_at_id ON bm_node_events (node_id, at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE bm_node_events`);
  }
}
