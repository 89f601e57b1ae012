import { createHash } from 'node:crypto';

/**
 * The Content-Security-Policy of a one-file page: its own inline `<script>` and `<style>`
 * blocks allowed by their SHA-256 hashes and nothing else (no other script, no inline event
 * handler, no markup-injected style), requests only to its own origin. Text that slipped into
 * the page as markup despite the escaping still could not run.
 */
export function pagePolicy(html: string): string {
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(
      (m) => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`,
    );
  const scripts = hashes('script');
  const styles = hashes('style');
  return [
    "default-src 'none'",
    `script-src ${scripts.join(' ') || "'none'"}`,
    `style-src ${styles.join(' ') || "'none'"}`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
