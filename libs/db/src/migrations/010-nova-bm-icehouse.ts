import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * nova_bm at schema version 10 (Icehouse/Juno): the result of Nova's sqlalchemy-migrate
 * scripts 001–010 in one step, for PostgreSQL. DATETIME → timestamp (UTC, no zone), Nova's
 * Boolean `deleted`. We add the foreign key that Nova's model declared but its migration
 * left out (interfaces are hard-deleted, nodes soft-deleted, so it never blocks a delete).
 */
export class NovaBmIcehouse1700000000010 implements MigrationInterface {
  name = 'NovaBmIcehouse1700000000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bm_nodes (
        id                 SERIAL NOT NULL,
        created_at         timestamp,
        updated_at         timestamp,
        deleted_at         timestamp,
        deleted            boolean DEFAULT false,
        uuid               varchar(36),
        service_host       varchar(255),
        instance_uuid      varchar(36),
        instance_name      varchar(255),
        cpus               integer,
        memory_mb          integer,
        local_gb           integer,
        preserve_ephemeral boolean DEFAULT false,
        pm_address         text,
        pm_user            text,
        pm_password        text,
        task_state         varchar(255),
        terminal_port      integer,
        image_path         varchar(255),
        pxe_config_path    varchar(255),
        deploy_key         varchar(255),
        root_mb            integer,
        swap_mb            integer,
        ephemeral_mb       integer,
        CONSTRAINT bm_nodes_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE UNIQUE INDEX uuid_ux ON bm_nodes (uuid)`);
    await q.query(`CREATE INDEX idx_bm_nodes_service_host_deleted ON bm_nodes (service_host, deleted)`);
    await q.query(`CREATE INDEX idx_bm_nodes_instance_uuid_deleted ON bm_nodes (instance_uuid, deleted)`);
    await q.query(`CREATE INDEX idx_bm_nodes_hmcld ON bm_nodes (service_host, memory_mb, cpus, local_gb, deleted)`);
    await q.query(`CREATE INDEX deploy_key_idx ON bm_nodes (deploy_key)`);

    await q.query(`
      CREATE TABLE bm_interfaces (
        id          SERIAL NOT NULL,
        created_at  timestamp,
        updated_at  timestamp,
        deleted_at  timestamp,
        deleted     boolean DEFAULT false,
        bm_node_id  integer,
        address     varchar(255),
        datapath_id varchar(255),
        port_no     integer,
        vif_uuid    varchar(36),
        CONSTRAINT bm_interfaces_pkey PRIMARY KEY (id),
        CONSTRAINT bm_interfaces_address_key UNIQUE (address),
        CONSTRAINT bm_interfaces_vif_uuid_key UNIQUE (vif_uuid),
        CONSTRAINT bm_interfaces_bm_node_id_fkey FOREIGN KEY (bm_node_id) REFERENCES bm_nodes (id)
      )`);
    await q.query(`CREATE INDEX idx_bm_interfaces_bm_node_id_deleted ON bm_interfaces (bm_node_id, deleted)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE bm_interfaces`);
    await q.query(`DROP TABLE bm_nodes`);
  }
}
