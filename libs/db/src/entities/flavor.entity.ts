import { Column, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { NovaBase } from './nova-base';

/** Ours (migration 015), after Nova's instance_types: a flavor and its extra specs (JSON). */
@Entity({ name: 'flavors' })
@Unique('flavors_name_key', ['name'])
export class Flavor extends NovaBase {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'flavors_pkey' })
  id: number;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ type: 'integer' })
  vcpus: number;

  @Column({ type: 'integer' })
  memory_mb: number;

  @Column({ type: 'integer' })
  root_gb: number;

  @Column({ type: 'integer', default: 0 })
  ephemeral_gb: number;

  /** MB, as Nova. */
  @Column({ type: 'integer', default: 0 })
  swap: number;

  /** JSON object of extra specs, e.g. {"cpu_arch": "x86_64"}. */
  @Column({ type: 'text', default: '{}' })
  extra_specs: string;
}
