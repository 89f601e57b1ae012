const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const BARE_MAC_RE = /^[0-9a-f]{12}$/i;

/**
 * Canonical MAC form, as nova_bm stores it: lower-case, colon separated (`52:54:00:12:34:56`).
 * Accepts `-` separators and the bare 12-digit form. Returns undefined for anything else,
 * including multicast addresses (which no NIC can PXE-boot from).
 */
export function normalizeMac(input: string): string | undefined {
  const s = input.trim();
  let hex: string;
  if (MAC_RE.test(s)) hex = s.replace(/[:-]/g, '');
  else if (BARE_MAC_RE.test(s)) hex = s;
  else return undefined;
  hex = hex.toLowerCase();
  if (parseInt(hex.slice(0, 2), 16) & 1) return undefined;
  return hex.match(/../g)!.join(':');
}

export function macProblem(input: string): string | undefined {
  const s = input.trim();
  if (s === '') return 'a MAC address is required';
  if (!MAC_RE.test(s) && !BARE_MAC_RE.test(s)) return `'${s}' is not a MAC address (want xx:xx:xx:xx:xx:xx)`;
  if (normalizeMac(s) === undefined) return `'${s}' is a multicast address, not a NIC`;
  return undefined;
}
