import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ours, after Nova's table of the same name: one hypervisor record per bare-metal node, written
 * by the compute service's resource reports (get_available_resource) and read by the scheduler
 * when it starts, so it schedules before the first report of the period arrives.
 */
export class ComputeNodes1700000000014 implements MigrationInterface {
  name = 'ComputeNodes1700000000014';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE compute_nodes (
        id                  SERIAL NOT NULL,
        created_at          timestamp,
        updated_at          timestamp,
        deleted_at          timestamp,
        deleted             boolean DEFAULT false,
        host                varchar(255) NOT NULL,
        hypervisor_hostname varchar(255) NOT NULL,
        vcpus               integer NOT NULL,
        memory_mb           integer NOT NULL,
        local_gb            integer NOT NULL,
        vcpus_used          integer NOT NULL,
        memory_mb_used      integer NOT NULL,
        local_gb_used       integer NOT NULL,
        free_ram_mb         integer NOT NULL,
        free_disk_gb        integer NOT NULL,
        running_vms         integer NOT NULL,
        hypervisor_type     varchar(255) NOT NULL,
        hypervisor_version  integer NOT NULL,
        cpu_info            text NOT NULL,
        supported_instances text NOT NULL,
        stats               text NOT NULL,
        CONSTRAINT compute_nodes_pkey PRIMARY KEY (id),
        CONSTRAINT compute_nodes_host_hypervisor_hostname_key UNIQUE (host, hypervisor_hostname)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE compute_nodes`);
  }
}
