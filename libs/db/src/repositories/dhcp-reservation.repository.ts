import type { DataSource } from 'typeorm';
import { BmDhcpReservation } from '../entities/bm-dhcp-reservation.entity';

/** One MAC's DHCP address, as the lease store holds it. */
export interface DhcpReservation {
  mac: string;
  ip: string;
  /** False after a DHCPRELEASE; the address stays reserved for the MAC. */
  active: boolean;
}

/** `bm_dhcp_reservations`: the netboot DHCP server's addresses, kept across restarts. */
export class DhcpReservationRepository {
  constructor(private readonly ds: DataSource) {}

  /** Every reservation, by MAC. */
  async all(): Promise<DhcpReservation[]> {
    const rows = await this.ds.getRepository(BmDhcpReservation).find({ order: { mac: 'ASC' } });
    return rows.map((r) => ({ mac: r.mac, ip: r.address, active: r.active }));
  }

  /** Creates or replaces the reservation of `r.mac` (updated_at = now). */
  async save(r: DhcpReservation): Promise<void> {
    await this.ds
      .getRepository(BmDhcpReservation)
      .upsert({ mac: r.mac, address: r.ip, active: r.active, updated_at: new Date() }, ['mac']);
  }

  /**
   * The MACs of every live node, whatever its host (lower case): a reservation of another MAC
   * belongs to no node any more.
   */
  async liveMacs(): Promise<Set<string>> {
    const rows: { mac: string }[] = await this.ds.query(
      `SELECT lower(i.address) AS mac FROM bm_interfaces i JOIN bm_nodes n ON n.id = i.bm_node_id
        WHERE n.deleted = false AND i.address IS NOT NULL`,
    );
    return new Set(rows.map((r) => r.mac));
  }

  /** Removes the reservation of `mac` (none: nothing happens). */
  async forget(mac: string): Promise<void> {
    await this.ds.getRepository(BmDhcpReservation).delete({ mac });
  }
}
