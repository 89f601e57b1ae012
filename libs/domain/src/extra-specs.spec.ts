import { capabilityKey, matchExtraSpec, nodeStats } from './extra-specs';

describe('matchExtraSpec (Nova extra_specs_ops semantics)', () => {
  it.each([
    ['x86_64', 'x86_64', true],
    ['x86_64', 'i686', false],
    [undefined, 'x86_64', false],
    ['8', '= 4', true], // "=" is numeric at-least
    ['2', '= 4', false],
    ['4', '== 4.0', true],
    ['4', '!= 4', false],
    ['5', '>= 4', true],
    ['3', '<= 4', true],
    ['abc', '>= 4', false], // not a number: no match
    ['', '== 0', false],
    ['x86_64', 's== x86_64', true],
    ['x86_64', 's!= x86_64', false],
    ['a', 's< b', true],
    ['b', 's<= b', true],
    ['c', 's> b', true],
    ['b', 's>= c', false],
    ['sse4 avx2', '<in> avx2', true],
    ['sse4', '<in> avx2', false],
    ['r2', '<or> r1 <or> r2 <or> r3', true],
    ['r4', '<or> r1 <or> r2 <or> r3', false],
    [undefined, '<or> r1', false],
    ['4', '>=', false], // operator without an operand
    ['', '', true],
  ] as const)('%j against %j → %j', (have, want, ok) => {
    expect(matchExtraSpec(have, want)).toBe(ok);
  });
});

describe('capabilityKey', () => {
  it('keeps plain and capabilities: keys, skips other scopes', () => {
    expect(capabilityKey('cpu_arch')).toBe('cpu_arch');
    expect(capabilityKey('capabilities:cpu_arch')).toBe('cpu_arch');
    expect(capabilityKey('baremetal:deploy_kernel_id')).toBeUndefined();
    expect(capabilityKey('hw:cpu_policy')).toBeUndefined();
  });
});

describe('nodeStats', () => {
  it("adds baremetal_driver, prefers the node's own cpu_arch, and always has cpu_arch", () => {
    expect(nodeStats({ cpu_arch: 'x86_64', rack: 'r1' }, 'nova.virt.baremetal.pxe.PXE')).toEqual({
      baremetal_driver: 'nova.virt.baremetal.pxe.PXE',
      cpu_arch: 'x86_64',
      rack: 'r1',
    });
    expect(nodeStats({ cpu_arch: 'x86_64' }, 'pxe', 'aarch64').cpu_arch).toBe('aarch64');
    expect(nodeStats({}, 'pxe')).toEqual({ baremetal_driver: 'pxe', cpu_arch: '' });
  });
});
