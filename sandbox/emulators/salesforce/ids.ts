/**
 * Salesforce record ids: 15-char case-sensitive ids plus the 3-char case-insensitive checksum
 * suffix (18-char form), with the object key prefix in the first three characters.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SUFFIX = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

/** Appends the checksum suffix to a 15-char id. */
export function to18(id15: string): string {
  if (id15.length === 18) return id15;
  if (id15.length !== 15) throw new Error(`not a 15-char Salesforce id: ${id15}`);
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charAt(chunk * 5 + i);
      if (c >= 'A' && c <= 'Z') bits |= 1 << i;
    }
    suffix += SUFFIX.charAt(bits);
  }
  return id15 + suffix;
}

/** Canonical (18-char) form of a 15- or 18-char id; other strings are returned unchanged. */
export function normalizeId(id: string): string {
  if (/^[a-zA-Z0-9]{15}$/.test(id)) return to18(id);
  return id;
}

/**
 * A deterministic id: 3-char prefix + a 2-char "pod" + counter in base62 (10 chars) + checksum.
 * Ids of one prefix sort in counter order.
 */
export function makeSfId(prefix: string, counter: number): string {
  let n = counter;
  let digits = '';
  for (let i = 0; i < 10; i++) {
    digits = BASE62.charAt(n % 62) + digits;
    n = Math.floor(n / 62);
  }
  return to18(`${prefix}5g${digits}`);
}
