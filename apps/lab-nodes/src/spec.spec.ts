import { blkidFields, partitionsOf, rootPartition } from './disk';
import { checkSpecs } from './fleet';
import { seedErrorParameter } from './sim-node';
import { parseNodeFile, parseSize } from './spec';

describe('the node file', () => {
  it('reads CSV with a header, comments, defaults', () => {
    const csv =
      '# the fleet\nmac,bmc_port,bmc_password_file,disk_file,disk_size,callback,name\n' +
      '52:54:00:83:00:01,0,pw,n1.img,2G,,\n' +
      '52:54:00:83:00:07,6230,pw,n7.img,512M,never,slow\n';
    expect(parseNodeFile(csv)).toEqual([
      {
        mac: '52:54:00:83:00:01',
        bmc_port: 0,
        bmc_user: 'admin',
        bmc_password_file: 'pw',
        disk_file: 'n1.img',
        disk_size: 2 * 2 ** 30,
        callback: 'always',
      },
      {
        name: 'slow',
        mac: '52:54:00:83:00:07',
        bmc_port: 6230,
        bmc_user: 'admin',
        bmc_password_file: 'pw',
        disk_file: 'n7.img',
        disk_size: 512 * 2 ** 20,
        callback: 'never',
      },
    ]);
  });

  it('reads JSON, a list or { nodes }', () => {
    const node = {
      mac: '52:54:00:83:00:02',
      bmc_port: 623,
      bmc_user: 'root',
      bmc_password_file: '/p',
      disk_file: '/d',
      disk_size: 1048576,
      bmc_address: '10.83.0.2',
    };
    const want = [{ ...node, callback: 'always' }];
    expect(parseNodeFile(JSON.stringify([node]))).toEqual(want);
    expect(parseNodeFile(JSON.stringify({ nodes: [node] }))).toEqual(want);
  });

  it('names every problem', () => {
    expect(() => parseNodeFile('mac,bmc_port,bmc_password_file,disk_file,disk_size\nxx,70000,,d,huge\n')).toThrow(
      'invalid node file: line 2: mac "xx" is not a MAC address; line 2: bmc_port must be a port number (0: any); ' +
        'line 2: disk_size must be a size (bytes, or 512M, 2G…); line 2: bmc_password_file is required',
    );
    expect(() => parseNodeFile('mac,colour\n')).toThrow('line 1: unknown column(s) colour');
    expect(() => parseNodeFile('mac,bmc_port\n52:54:00:83:00:01\n')).toThrow('line 2: 1 fields, the header has 2');
  });

  it('sizes', () => {
    expect([parseSize('1024'), parseSize('2G'), parseSize('3GiB'), parseSize('512m'), parseSize('1.5G')]).toEqual([
      1024,
      2 ** 31,
      3 * 2 ** 30,
      2 ** 29,
      undefined,
    ]);
  });

  it('a fleet may not give a MAC, a name, a BMC or a disk twice', () => {
    const n = (mac: string, port: number, file: string) => ({
      name: mac,
      mac,
      bmc: { port, user: 'admin', password: 'x' },
      disk: { file, sizeBytes: 1 },
    });
    expect(checkSpecs([n('a', 0, 'x'), n('b', 0, 'y')])).toEqual([]);
    expect(checkSpecs([n('a', 623, 'x'), n('A', 623, 'x')])).toEqual([
      'MAC a is given twice',
      'BMC 127.0.0.1:623 is given twice',
      'disk file x is given twice',
    ]);
  });
});

describe("what a node reads of its disk and of the seed's ramdisk", () => {
  const SFDISK = JSON.stringify({
    partitiontable: {
      label: 'dos',
      device: 'd.img',
      unit: 'sectors',
      sectorsize: 512,
      partitions: [
        { node: 'd.img1', start: 2048, size: 2097152, type: '83' },
        { node: 'd.img2', start: 2099200, size: 2048, type: '82' },
        { node: 'd.img3', start: 2101248, size: 2097152, type: '83' },
      ],
    },
  });

  it('partition offsets from sfdisk -J, fields from blkid -o export, the root partition', () => {
    const parts = partitionsOf(SFDISK);
    expect(parts).toEqual([
      { number: 1, offsetBytes: 1048576, sizeBytes: 1073741824 },
      { number: 2, offsetBytes: 1074790400, sizeBytes: 1048576 },
      { number: 3, offsetBytes: 1075838976, sizeBytes: 1073741824 },
    ]);
    expect(blkidFields('LABEL=ephemeral0\nUUID=e-1\nTYPE=ext3\nUSAGE=filesystem\n')).toEqual({
      LABEL: 'ephemeral0',
      UUID: 'e-1',
      TYPE: 'ext3',
      USAGE: 'filesystem',
    });
    const probed = [
      { ...parts[0], type: 'ext3', uuid: 'e-1', label: 'ephemeral0' },
      { ...parts[1], type: 'swap', uuid: 's-1', label: 'swap1' },
      { ...parts[2], type: 'ext4', uuid: 'r-1', label: 'root' },
    ];
    expect(rootPartition(probed)?.number).toBe(3);
    expect(rootPartition(probed.slice(0, 2))).toBeUndefined();
    expect(rootPartition([])).toBeUndefined();
  });

  it("e= through the seed's filter: [a-zA-Z0-9.-_ ] kept (.-_ a range), spaces to +", () => {
    expect(seedErrorParameter('Failed to start iscsi target.')).toBe('Failed+to+start+iscsi+target.');
    expect(seedErrorParameter('a&b%c+d/e:f;g=h?i@j[k]l^m_n')).toBe('abcd/e:f;g=h?i@j[k]l^m_n');
  });
});
