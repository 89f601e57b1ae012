const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const PASSWORD_PARAM = /([?&;](?:password|passwd|pass|pwd)=)[^&;#]*/gi;

/**
 * Replaces the password of a URL-like string with `****`, for error messages, warnings and logs.
 *
 * Works on the text rather than on a parsed URL, so it also covers values that are not valid URLs
 * (`mysql://$ID:$Password@$IP/nova_bm`) and passwords containing `/`, `?` or `#`. The userinfo is
 * taken to end at the *last* `@`; that may hide more than the password in odd URLs, but never less.
 */
export function redactUrl(url: string): string {
  const scheme = SCHEME.exec(url)?.[0];
  if (scheme === undefined) return url;
  let rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) rest = `${userinfo.slice(0, colon)}:****${rest.slice(at)}`;
  }
  return scheme + rest.replace(PASSWORD_PARAM, '$1****');
}
