import { validateDto } from '@bm/core';
import { getMetadataStorage } from 'class-validator';
import { UPDATABLE_FIELDS, UpdateNodeDto, validateNode } from './node.dto';

const NODE = { macs: ['52:54:00:00:00:01'], cpus: 1, memory_mb: 512, local_gb: 5, pm_address: '10.0.0.1' };
const problems = (fields: Record<string, unknown>) => {
  const v = validateNode({ ...NODE, ...fields }, 'cn1');
  return v.ok ? [] : v.problems.map((p) => `${p.field}: ${p.message}`);
};

describe('validateNode: what IPMI can carry', () => {
  it('takes a password of up to 20 bytes, the empty one included', () => {
    expect(problems({ pm_password: '' })).toEqual([]);
    expect(problems({ pm_password: 'x'.repeat(20) })).toEqual([]);
    expect(problems({ pm_password: 'Pw with spaces & ü' })).toEqual([]);
  });

  it('refuses a password over 20 bytes', () => {
    expect(problems({ pm_password: 'ü'.repeat(11) })).toEqual(['pm_password: is 22 bytes: IPMI 2.0 takes at most 20']);
  });

  it.each([
    ['NUL', 'pw\u0000x', '00', 3],
    ['newline', 'pw\n', '0a', 3],
    ['ESC', '\u001b[2J', '1b', 1],
    ['DEL', 'a\u007f', '7f', 2],
    ['C1 CSI', 'a\u009b', '9b', 2],
  ])('refuses a password with %s, without repeating it', (_name, pw, code, at) => {
    const p = problems({ pm_password: pw });
    expect(p).toEqual([`pm_password: has a control character (0x${code} at character ${at}): IPMI cannot carry it`]);
  });

  it('refuses control characters in pm_user (ANSI escapes would reach the terminal)', () => {
    expect(problems({ pm_user: '\u001b[31madmin' })).toEqual([
      'pm_user: has a control character (0x1b at character 1): IPMI cannot carry it',
    ]);
  });
});

describe('UpdateNodeDto: the enrollment fields, each optional, MACs not among them', () => {
  const check = (fields: Record<string, unknown>) => {
    const v = validateDto(UpdateNodeDto, fields);
    return v.ok ? [] : v.problems.map((p) => `${p.field}: ${p.message}`);
  };

  it('takes any subset, the empty one included', () => {
    expect(check({})).toEqual([]);
    expect(check({ cpus: 4, cpu_arch: 'x86_64' })).toEqual([]);
  });

  it('checks each field as enrollment does', () => {
    expect(check({ cpus: 0 })).toEqual(['cpus: must be a positive integer']);
    expect(check({ pm_password: 'x'.repeat(21) })).toEqual(['pm_password: is 21 bytes: IPMI 2.0 takes at most 20']);
  });

  it('refuses macs (interface add/remove change them) and unknown fields', () => {
    expect(check({ macs: ['52:54:00:00:00:02'] })).toEqual(['macs: is not a known field']);
    expect(check({ colour: 'blue' })).toEqual(['colour: is not a known field']);
  });
});

describe('UPDATABLE_FIELDS', () => {
  it('names every field UpdateNodeDto checks, and no other', () => {
    const checked = getMetadataStorage()
      .getTargetValidationMetadatas(UpdateNodeDto, '', true, false)
      .map((m) => m.propertyName);
    expect([...new Set(checked)].sort()).toEqual([...UPDATABLE_FIELDS].sort());
  });
});
