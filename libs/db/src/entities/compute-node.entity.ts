import { Column, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { NovaBase } from './nova-base';

/**
 * Ours (migration 014), after Nova's `compute_nodes`: the last resource report of one bare-metal
 * node (hypervisor_hostname = the node's uuid) from the compute host that owns it. `stats` is the
 * JSON of the extra specs, `supported_instances` the JSON list Nova reported.
 */
@Entity({ name: 'compute_nodes' })
@Unique('compute_nodes_host_hypervisor_hostname_key', ['host', 'hypervisor_hostname'])
export class ComputeNode extends NovaBase {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'compute_nodes_pkey' })
  id: number;

  @Column({ type: 'varchar', length: 255 })
  host: string;

  @Column({ type: 'varchar', length: 255 })
  hypervisor_hostname: string;

  @Column({ type: 'integer' })
  vcpus: number;

  @Column({ type: 'integer' })
  memory_mb: number;

  @Column({ type: 'integer' })
  local_gb: number;

  @Column({ type: 'integer' })
  vcpus_used: number;

  @Column({ type: 'integer' })
  memory_mb_used: number;

  @Column({ type: 'integer' })
  local_gb_used: number;

  @Column({ type: 'integer' })
  free_ram_mb: number;

  @Column({ type: 'integer' })
  free_disk_gb: number;

  @Column({ type: 'integer' })
  running_vms: number;

  @Column({ type: 'varchar', length: 255 })
  hypervisor_type: string;

  @Column({ type: 'integer' })
  hypervisor_version: number;

  @Column({ type: 'text' })
  cpu_info: string;

  @Column({ type: 'text' })
  supported_instances: string;

  @Column({ type: 'text' })
  stats: string;
}
