import { z } from 'zod';

/**
 * HubSpot property values arrive as strings (CRM v3: "Every property value is a string"): datetimes
 * as epoch milliseconds ("1700000000000") or ISO 8601, numbers as decimal text that may hold
 * anything a user typed. These schemas parse them explicitly; what cannot be parsed fails
 * validation and the loader quarantines the record with the property path in the reason.
 */

const EPOCH_MS = /^-?\d{10,14}$/;
const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Epoch-ms or ISO text to an ISO instant; undefined when it is neither. */
export function parseInstant(value: string): string | undefined {
  const v = value.trim();
  if (EPOCH_MS.test(v)) {
    const d = new Date(Number(v));
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (ISO.test(v)) {
    const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  return undefined;
}

/** Optional datetime property: null/'' -> null, else an ISO instant or a validation issue. */
export const hsInstant = z
  .string()
  .nullish()
  .transform((v, ctx) => {
    if (v === null || v === undefined || v.trim() === '') return null;
    const iso = parseInstant(v);
    if (iso === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a date (epoch milliseconds or ISO 8601), got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return iso;
  });

/** Optional number property: null/'' -> null, else decimal text or a validation issue. */
export const hsNumber = z
  .string()
  .nullish()
  .transform((v, ctx) => {
    if (v === null || v === undefined || v.trim() === '') return null;
    const s = v.trim();
    if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s)) {
      ctx.addIssue({ code: 'custom', message: `expected a number, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return s;
  });

/** Optional boolean property ("true"/"false"). */
export const hsBool = z
  .string()
  .nullish()
  .transform((v, ctx) => {
    if (v === null || v === undefined || v.trim() === '') return null;
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got ${JSON.stringify(v)}` });
    return z.NEVER;
  });

/** Optional text property. */
export const hsText = z
  .string()
  .nullish()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

/** The UTC day of an ISO instant. */
export function dayOf(iso: string | null): string | null {
  return iso === null ? null : iso.slice(0, 10);
}

/** UTM parameters of a URL (utm_source, utm_medium, utm_campaign, utm_content, utm_term); absent or unparseable -> null each. */
export function utmOf(url: string | null | undefined): { utm_source: string | null; utm_medium: string | null; utm_campaign: string | null; utm_content: string | null; utm_term: string | null } {
  let params: URLSearchParams | undefined;
  if (url) {
    try {
      params = new URL(url).searchParams;
    } catch {
      params = undefined;
    }
  }
  const get = (k: string): string | null => {
    const v = params?.get(k);
    return v === null || v === undefined || v === '' ? null : v;
  };
  return { utm_source: get('utm_source'), utm_medium: get('utm_medium'), utm_campaign: get('utm_campaign'), utm_content: get('utm_content'), utm_term: get('utm_term') };
}

/** A URL without its query string and fragment (the landing page). */
export function pageOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}
