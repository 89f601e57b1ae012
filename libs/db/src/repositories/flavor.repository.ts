import type { DataSource, EntityManager } from 'typeorm';
import { FlavorExists, FlavorNotFound, type Flavor as FlavorSpec } from '@bm/domain';
import { Flavor } from '../entities/flavor.entity';
import { isUniqueViolation } from './sql';

/** A new flavor (nova flavor-create): the domain's Flavor, named; ephemeral, swap and extra specs optional. */
export type FlavorInput = Pick<FlavorSpec, 'vcpus' | 'memory_mb' | 'root_gb'> &
  Partial<Pick<FlavorSpec, 'ephemeral_gb' | 'swap' | 'extra_specs'>> & { name: string };

/** `flavors`: what bmctl records and boots with; extra_specs stored as JSON text. */
export class FlavorRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Records a flavor. FlavorExists when a live flavor has the name, and also when the insert
   * hits the name's unique constraint (a racing create, or a soft-deleted flavor of that name).
   */
  async create(input: FlavorInput): Promise<Flavor> {
    const repo = this.ds.getRepository(Flavor);
    if (await repo.findOneBy({ name: input.name, deleted: false })) throw new FlavorExists(input.name);
    try {
      return await repo.save(
        repo.create({
          name: input.name,
          vcpus: input.vcpus,
          memory_mb: input.memory_mb,
          root_gb: input.root_gb,
          ephemeral_gb: input.ephemeral_gb ?? 0,
          swap: input.swap ?? 0,
          extra_specs: JSON.stringify(input.extra_specs ?? {}),
          created_at: new Date(),
          deleted: false,
        }),
      );
    } catch (e) {
      if (isUniqueViolation(e, 'flavors_name_key')) throw new FlavorExists(input.name);
      throw e;
    }
  }

  /** The live flavors, by id. */
  list(): Promise<Flavor[]> {
    return this.ds.getRepository(Flavor).find({ where: { deleted: false }, order: { id: 'ASC' } });
  }

  /** The live flavor named `name`; FlavorNotFound otherwise. */
  async byName(name: string): Promise<Flavor> {
    const f = await this.ds.getRepository(Flavor).findOneBy({ name, deleted: false });
    if (!f) throw new FlavorNotFound(name);
    return f;
  }

  /**
   * The live flavor `ref` names: its id (digits) or else its name, as `openstack flavor show`
   * finds one; FlavorNotFound otherwise.
   */
  find(ref: string): Promise<Flavor> {
    return this.findIn(this.ds.manager, ref);
  }

  /**
   * Deletes the live flavor `ref` and returns it. The row goes, as in Nova's API database
   * (flavors are not soft-deleted there since Newton), so its name can be used again: instances
   * carry a copy of their flavor, nothing refers to the row.
   */
  async delete(ref: string): Promise<Flavor> {
    return this.ds.transaction(async (m) => {
      const f = await this.findIn(m, ref, true);
      await m.getRepository(Flavor).delete({ id: f.id });
      return f;
    });
  }

  /**
   * Changes the extra specs of the live flavor `ref` (`flavor set|unset --property`): `change`
   * gets the current ones and returns the new ones (it may throw to refuse), with the row locked
   * so that two changes at once both count.
   */
  async updateExtraSpecs(
    ref: string,
    change: (specs: Record<string, string>) => Record<string, string>,
  ): Promise<Flavor> {
    return this.ds.transaction(async (m) => {
      const f = await this.findIn(m, ref, true);
      f.extra_specs = JSON.stringify(change(JSON.parse(f.extra_specs) as Record<string, string>));
      f.updated_at = new Date();
      return m.getRepository(Flavor).save(f);
    });
  }

  private async findIn(m: EntityManager, ref: string, lock = false): Promise<Flavor> {
    const repo = m.getRepository(Flavor);
    const by = async (where: { id: number } | { name: string }) =>
      repo.findOne({ where: { ...where, deleted: false }, ...(lock ? { lock: { mode: 'pessimistic_write' } } : {}) });
    const id = /^[0-9]{1,9}$/.test(ref) ? Number(ref) : undefined;
    const f = (id !== undefined ? await by({ id }) : null) ?? (await by({ name: ref }));
    if (!f) throw new FlavorNotFound(ref);
    return f;
  }
}
