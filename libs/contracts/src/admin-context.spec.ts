import { inRequest } from '@bm/core';
import { adminContext } from './conductor';

describe('adminContext (the context our services call with)', () => {
  it('carries the id of the request it is made for, so every service it reaches logs the same request_id', () => {
    inRequest(() => expect(adminContext()).toMatchObject({ request_id: 'req-spawn', roles: ['admin'] }), 'req-spawn');
  });

  it('outside any request, a fresh req-<uuid4> each time', () => {
    const [a, b] = [adminContext().request_id, adminContext().request_id];
    expect(a).toMatch(/^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });
});
