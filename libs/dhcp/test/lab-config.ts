import type { DhcpResponderConfig } from '../src';

/** The responder configuration of the 10.77.0.0/24 test network (fixtures, fuzzing, capture). */
export const LAB_CONFIG: DhcpResponderConfig = {
  serverIp: '10.77.0.1',
  mode: 'full',
  range: { first: '10.77.0.50', last: '10.77.0.99' },
  netmask: '255.255.255.0',
  router: '10.77.0.1',
  leaseTimeS: 3600,
  tftpServer: '10.77.0.1',
  bootfileBios: 'pxelinux.0',
  bootfileUefi: 'bootx64.efi',
};

export const LAB_IPXE_SCRIPT = 'http://10.77.0.1:8080/boot.ipxe';
