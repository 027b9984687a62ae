/**
 * Secrets must never reach logs, errors or the warehouse. Two defences:
 * - every configured value whose key looks secret is registered here and masked wherever it
 *   appears in a string we print or store;
 * - well-known carriers (Bearer headers, access_token= query parameters, URL passwords) are masked
 *   even when the value was never registered (e.g. a token a vendor just issued).
 */
const registered = new Set<string>();

export const SECRET_KEY = /(token|secret|password|passwd|api[_-]?key|private[_-]?key|authorization|credential)/i;

/** Registers a secret value so that scrub() masks it. Short values are ignored (too many false hits). */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 6) registered.add(value);
}

/** Registers every string under a key that looks secret, at any depth. */
export function registerSecretsIn(value: unknown, key = ''): void {
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key)) registerSecret(value);
  } else if (Array.isArray(value)) {
    for (const item of value) registerSecretsIn(item, key);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) registerSecretsIn(v, k);
  }
}

const CARRIERS: Array<[RegExp, string]> = [
  [/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[REDACTED]'],
  [/((?:access_token|refresh_token|client_secret|password|api_key|token)=)[^&\s"']+/gi, '$1[REDACTED]'],
  [/("(?:access_token|refresh_token|client_secret|password|api_key|accessToken|refreshToken|clientSecret)"\s*:\s*")[^"]*(")/g, '$1[REDACTED]$2'],
  [/(\w+:\/\/[^:/@\s]+:)[^@\s]+(@)/g, '$1[REDACTED]$2'],
];

/** Masks registered secrets and well-known secret carriers in a string. */
export function scrub(text: string): string {
  let out = text;
  for (const secret of registered) {
    if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  for (const [pattern, replacement] of CARRIERS) out = out.replace(pattern, replacement);
  return out;
}

/** Paths pino redacts in structured log objects. */
export const REDACT_PATHS = [
  '*.token', '*.accessToken', '*.access_token', '*.refreshToken', '*.refresh_token',
  '*.clientSecret', '*.client_secret', '*.password', '*.apiKey', '*.developerToken',
  '*.authorization', '*.Authorization', 'headers.authorization', '*.headers.authorization',
  '*.headers["developer-token"]', 'settings.*', 'connection.settings',
];
