import { Column, Entity, PrimaryColumn, Unique } from 'typeorm';

/**
 * Ours (migration 013): the address each enrolled MAC gets from the netboot DHCP server, kept
 * across boots and restarts, so the deploy ramdisk and the instance see the same address.
 */
@Entity({ name: 'bm_dhcp_reservations' })
@Unique('bm_dhcp_reservations_address_key', ['address'])
export class BmDhcpReservation {
  @PrimaryColumn({ type: 'varchar', length: 17, primaryKeyConstraintName: 'bm_dhcp_reservations_pkey' })
  mac: string;

  @Column({ type: 'varchar', length: 15 })
  address: string;

  /** False after a DHCPRELEASE; the address stays reserved for the MAC. */
  @Column({ type: 'boolean', default: true })
  active: boolean;

  @Column({ type: 'timestamp' })
  updated_at: Date;
}
