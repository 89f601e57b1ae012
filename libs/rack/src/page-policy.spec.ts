import { createHash } from 'node:crypto';
import { pagePolicy } from './page-policy';

const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

describe('pagePolicy', () => {
  it("allows exactly the page's own inline script and style, and requests to its origin", () => {
    const p = pagePolicy('<style>a{}</style><p>x</p><script>go()</script>');
    expect(p).toContain(`script-src ${sha('go()')};`);
    expect(p).toContain(`style-src ${sha('a{}')};`);
    expect(p).toMatch(/^default-src 'none'; /);
    expect(p).toContain("connect-src 'self'");
    expect(p).not.toContain('unsafe-inline');
  });

  it('a page without script gets none', () => {
    expect(pagePolicy('<p>x</p>')).toContain("script-src 'none'");
  });
});
