import { toFailure } from '@bm/messaging';
import {
  InstanceNotFound,
  MissingBootImages,
  NOVA_EXCEPTION,
  NoValidHost,
  NodeNotFound,
  OUR_EXCEPTION,
  NodeAssociated,
  novaFailure,
} from '.';
import { NOVA_EXCEPTION_CLASSES } from './nova-exceptions';

describe('our errors on the wire (novaFailure)', () => {
  it('those Nova has go as nova.exception.<Name>, with their fields as kwargs', () => {
    expect(novaFailure(new InstanceNotFound('i-1'))).toEqual({ module: NOVA_EXCEPTION, kwargs: { ref: 'i-1' } });
    expect(novaFailure(new NoValidHost('No valid host was found. ', []))?.module).toBe(NOVA_EXCEPTION);
    // the seed's message for missing boot images is Nova's NovaException
    expect(novaFailure(new MissingBootImages(['kernel_id']))?.module).toBe(NOVA_EXCEPTION);
  });

  it('ours (and any other error) under our own module, which Nova does not import', () => {
    expect(novaFailure(new NodeNotFound(7))).toEqual({ module: OUR_EXCEPTION, kwargs: { ref: 7 } });
    expect(novaFailure(new NodeAssociated('node 3 is associated with instance i-2'))?.module).toBe(OUR_EXCEPTION);
    expect(novaFailure(new TypeError('x is undefined'))).toEqual({ module: OUR_EXCEPTION, kwargs: {} });
  });

  it('the failure carries no stack of ours: one line, class and message', () => {
    const f = toFailure(new InstanceNotFound('i-1'), novaFailure);
    expect(f).toMatchObject({
      class: 'InstanceNotFound',
      module: 'nova.exception',
      tb: ['InstanceNotFound: Instance i-1 could not be found.\n'],
    });
    expect(JSON.stringify(toFailure(new TypeError('boom'), novaFailure))).not.toMatch(/\.ts:|\.js:|at /);
  });

  it("Zed's list has the classes Nova raises to its callers, and not ours", () => {
    for (const n of [
      'NovaException',
      'InstanceNotFound',
      'NoValidHost',
      'InstanceInvalidState',
      'UnexpectedTaskStateError',
      'ConsoleNotAvailable',
    ])
      expect(NOVA_EXCEPTION_CLASSES.has(n)).toBe(true);
    for (const n of ['NodeNotFound', 'InvalidRpcArguments', 'BmcUnreachable', 'NodeAssociated'])
      expect(NOVA_EXCEPTION_CLASSES.has(n)).toBe(false);
  });
});
