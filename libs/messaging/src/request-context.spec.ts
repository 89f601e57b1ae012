import { inRequest } from '@bm/core';
import { contextForCall, requestIdOf } from './request-context';

const REQ = /^req-[0-9a-f-]{36}$/;

describe('requestIdOf (the id an arriving request runs under)', () => {
  it("is the caller's request_id when it sent one", () => {
    expect(requestIdOf({ request_id: 'req-3f2c8a9e-1b7d-4c55-9a0e-6f1d2b3c4d5e', user_id: 'u' })).toBe(
      'req-3f2c8a9e-1b7d-4c55-9a0e-6f1d2b3c4d5e',
    );
    expect(requestIdOf({ request_id: 'any caller-made id' })).toBe('any caller-made id');
  });

  it.each([
    [{}],
    [{ request_id: null }],
    [{ request_id: '' }],
    [{ request_id: 42 }],
    [{ request_id: 'x'.repeat(129) }],
  ])('is a new req-<uuid4> for %j', (context) => {
    expect(requestIdOf(context)).toMatch(REQ);
  });
});

describe('contextForCall (the context a call sends)', () => {
  it('outside a request: the context as given', () => {
    expect(contextForCall(undefined)).toBeUndefined();
    expect(contextForCall({ user_id: 'u' })).toEqual({ user_id: 'u' });
  });

  it("inside one: its id added when the context names none; a caller's own id is kept", () => {
    inRequest(() => {
      expect(contextForCall(undefined)).toEqual({ request_id: 'req-1' });
      expect(contextForCall({ user_id: 'u', request_id: null })).toEqual({ user_id: 'u', request_id: 'req-1' });
      expect(contextForCall({ request_id: 'req-mine' })).toEqual({ request_id: 'req-mine' });
    }, 'req-1');
  });
});
