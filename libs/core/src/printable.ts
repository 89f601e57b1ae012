/**
 * Characters that act on a terminal or a log instead of being shown: C0 controls (newline, CR,
 * ESC starting ANSI sequences…), DEL, C1 controls (0x9b is a one-byte CSI), the Unicode line and
 * paragraph separators, and the bidirectional overrides that reorder what is displayed.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every such character written out as an escape (`\n`, `\x1b`, `\u202e`): what
 * prints text that came from outside (an RPC's method name, a BMC user name) into a log line or
 * a table cell, so that it can neither start a forged log line nor drive the operator's terminal.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  });
}
