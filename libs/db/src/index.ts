export * from './entities/bm-node.entity';
export * from './entities/bm-interface.entity';
export * from './entities/bm-node-power.entity';
export * from './entities/bm-dhcp-reservation.entity';
export * from './entities/compute-node.entity';
export * from './migrations';
export * from './data-source-options';
export * from './schema';
