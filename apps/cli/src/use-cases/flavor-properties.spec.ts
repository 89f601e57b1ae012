import { CliError } from '../errors';
import { parseProperty, setProperties, unsetProperties } from './flavor-properties';

describe('flavor set|unset --property', () => {
  it('KEY=VALUE: the value may hold = or be empty; the key may not be empty', () => {
    expect(parseProperty('a=b=c')).toEqual(['a', 'b=c']);
    expect(parseProperty('baremetal:deploy_kernel_id=')).toEqual(['baremetal:deploy_kernel_id', '']);
    for (const bad of ['=v', 'novalue'])
      expect(() => parseProperty(bad)).toThrow(new CliError(`--property "${bad}": must be KEY=VALUE`, 'usage'));
  });

  it('set adds and replaces; --no-property removes every property first', () => {
    expect(setProperties({ a: '1', b: '2' }, { b: '3', c: '4' })).toEqual({ a: '1', b: '3', c: '4' });
    expect(setProperties({ a: '1', b: '2' }, { c: '4' }, true)).toEqual({ c: '4' });
  });

  it('unset removes; a key the flavor has not is refused and nothing changes', () => {
    const specs = { a: '1', b: '2' };
    expect(unsetProperties('f', specs, ['a'])).toEqual({ b: '2' });
    expect(() => unsetProperties('f', specs, ['a', 'x', 'toString'])).toThrow(
      new CliError('flavor f has no property "x", "toString"', 'invalid'),
    );
    expect(specs).toEqual({ a: '1', b: '2' });
  });
});
