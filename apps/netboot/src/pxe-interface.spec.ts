import { CommandRunner } from '@bm/exec';
import { type InterfaceAddress, readHostInterfaces, resolveBootNetwork } from './pxe-interface';

const v4 = (address: string, netmask = '255.255.255.0'): InterfaceAddress => ({
  address,
  netmask,
  cidr: `${address}/24`,
});
const host = { lo: [v4('127.0.0.1', '255.0.0.0')], br0: [v4('10.77.0.1')], eth0: [v4('192.168.1.5')], ens9: [] };
const base = {
  pxeInterface: 'br0',
  listenAddress: '0.0.0.0',
  myIp: '10.77.0.1',
  dhcpMode: 'full' as const,
  range: { first: '10.77.0.50', last: '10.77.0.99' },
};

describe('resolveBootNetwork ([baremetal] pxe_interface)', () => {
  it('no pxe_interface: both servers on listen_address', () => {
    expect(resolveBootNetwork({ ...base, pxeInterface: '' }, host)).toEqual({
      tftpAddress: '0.0.0.0',
      dhcpAddress: '0.0.0.0',
      notes: [],
    });
  });

  it("TFTP binds the interface's address; DHCP listens on the wildcard (broadcasts) and replies from the interface's address", () => {
    expect(resolveBootNetwork(base, host)).toEqual({
      tftpAddress: '10.77.0.1',
      dhcpAddress: '0.0.0.0',
      dhcpReplyAddress: '10.77.0.1',
      notes: [],
    });
  });

  it('an explicit listen_address on the interface is kept', () => {
    const r = resolveBootNetwork({ ...base, listenAddress: '10.77.0.1' }, host);
    expect(r).toMatchObject({ tftpAddress: '10.77.0.1', dhcpAddress: '10.77.0.1' });
    expect(r.dhcpReplyAddress).toBeUndefined(); // the listening socket is already on the interface
  });

  it('names what is wrong', () => {
    expect(() => resolveBootNetwork({ ...base, pxeInterface: 'eth9' }, host)).toThrow(
      "[baremetal] pxe_interface: no interface named 'eth9' on this host (it has: br0, ens9, eth0, lo)",
    );
    expect(() => resolveBootNetwork({ ...base, pxeInterface: 'ens9' }, host)).toThrow(
      "[baremetal] pxe_interface: 'ens9' has no IPv4 address",
    );
    expect(() => resolveBootNetwork({ ...base, range: { first: '192.168.1.50', last: '192.168.1.99' } }, host)).toThrow(
      "[netboot] dhcp_range 192.168.1.50-192.168.1.99 is not on br0's network 10.77.0.1/24",
    );
    expect(() => resolveBootNetwork({ ...base, listenAddress: '192.168.1.5' }, host)).toThrow(
      '[netboot] listen_address 192.168.1.5 is not an address of pxe_interface br0',
    );
  });

  it('a range elsewhere is fine in proxy mode (no addresses of ours); my_ip off the interface is a note', () => {
    const r = resolveBootNetwork(
      { ...base, dhcpMode: 'proxy', myIp: '192.168.1.5', range: { first: '192.168.1.50', last: '192.168.1.99' } },
      host,
    );
    expect(r.notes).toEqual([
      '[DEFAULT] my_ip 192.168.1.5 is not an address of br0 (10.77.0.1): nodes will be sent to 192.168.1.5 for TFTP',
    ]);
  });

  it("reads the host's interfaces with ip -j addr show (loopback at least)", async () => {
    const host = await readHostInterfaces(new CommandRunner());
    expect(host.lo).toContainEqual({ address: '127.0.0.1', netmask: '255.0.0.0', cidr: '127.0.0.1/8' });
  });
});
