/**
 * Meta Marketing API (Graph API) emulator over the world's Meta ad accounts.
 *
 * Routes (Graph API root `/{version}/...`, version like v26.0):
 * - `GET act_{id}` with `fields` (ad account: id, account_id, name, currency, timezone_name,
 *   timezone_offset_hours_utc, account_status): Marketing API reference "Ad Account".
 * - `GET act_{id}/campaigns` (id, name, status, effective_status, objective, start_time,
 *   stop_time, daily_budget, ...), cursor paged: reference "Ad Account Campaigns".
 * - `GET act_{id}/insights` with level=campaign, time_increment=1, time_range={since,until},
 *   fields=campaign_id,campaign_name,spend,impressions,clicks,actions,action_values: reference
 *   "Ad Account Insights" / "Ads Insights". Metrics are JSON strings; actions and action_values are
 *   lists of { action_type, value }; every row carries date_start and date_stop.
 * - The async flow (Marketing API "Insights API > Asynchronous Jobs"): `POST act_{id}/insights`
 *   answers { report_run_id }; `GET /{report_run_id}` answers the AdReportRun (async_status
 *   'Job Not Started' | 'Job Started' | 'Job Running' | 'Job Completed' | 'Job Failed' | 'Job
 *   Skipped', async_percent_completion, and since v25.0 error_code/error_message on failure,
 *   developers.facebook.com/blog/post/2026/01/08/enhanced-error-messaging-for-ads-insights-async-api);
 *   `GET /{report_run_id}/insights` pages the result.
 * - Paging (Graph API "Paginated Results"): { data[], paging: { cursors: { before, after }, next } };
 *   no `next` on the last page.
 * - Errors: { error: { message, type, code, error_subcode, fbtrace_id } } with HTTP 400 (Graph API
 *   "Handling Errors"); 190 for a bad token, 100/1487534 "Please reduce the amount of data you're
 *   asking for, then retry your request" (Insights "Limits and Best Practices"), throttling 80000
 *   with X-Business-Use-Case-Usage and X-Ad-Account-Usage headers (Marketing API "Rate Limiting").
 *   Throttling codes 4/17/32/613/80004 come from the fault injector (sandbox/emulators/faults.ts).
 */
import { EmuHttpError } from '../http.ts';
import type { EmuRequest, EmuResponse, RouteDef } from '../http.ts';
import { requestToken } from '../server.ts';
import { fnv1a } from '../prng.ts';
import type { World } from '../../world/types.ts';
import { addDays } from '../../world/dates.ts';
import { MetaAdsStore } from './store.ts';
import type { MetaAdsStoreOptions, MetaCampaign, MetaDay, ReportRun } from './store.ts';

export { MetaAdsStore, UnknownMetaRowError } from './store.ts';
export type { MetaAdAccount, MetaCampaign, MetaDay, MetaMalformKind, MetaMetrics, MetaAdsStoreOptions, ReportRun, ReportRunFate, ReportRunStatus } from './store.ts';

export interface MetaAdsEmulatorOptions extends MetaAdsStoreOptions {
  /** The access token accepted. Default derived from the world seed ("EAA..." like a real one). */
  accessToken?: string;
  /** Clock (ms) for report-run timestamps and the usage window. Default Date.now. */
  now?: () => number;
  /**
   * Calls per ad account per hour before the business-use-case limit throttles (error 80000).
   * Usage headers report calls as a percentage of this. Default 10,000.
   */
  callBudget?: number;
}

export interface MetaAdsEmulator {
  routes: RouteDef[];
  store: MetaAdsStore;
  accessToken: string;
  env(origin: string): Record<string, string>;
}

/** Insights fields the emulator can compute (a subset of reference "Ads Insights"). */
const INSIGHT_FIELDS = new Set([
  'account_id',
  'account_name',
  'account_currency',
  'campaign_id',
  'campaign_name',
  'objective',
  'spend',
  'impressions',
  'clicks',
  'actions',
  'action_values',
  'date_start',
  'date_stop',
]);
const DEFAULT_INSIGHT_FIELDS = ['spend', 'impressions', 'clicks'];
const ACCOUNT_FIELDS = new Set(['id', 'account_id', 'name', 'currency', 'timezone_name', 'timezone_offset_hours_utc', 'account_status', 'business_name']);
const CAMPAIGN_FIELDS = new Set(['id', 'account_id', 'name', 'status', 'effective_status', 'configured_status', 'objective', 'start_time', 'stop_time', 'daily_budget', 'lifetime_budget', 'created_time', 'updated_time', 'buying_type']);
const HOUR_MS = 3_600_000;

type GraphError = { message: string; type: string; code: number; error_subcode?: number; error_user_title?: string; error_user_msg?: string; is_transient?: boolean };

/** Micros as a decimal string with at most `decimals` places: 80110000 -> "80.11". */
export function microsToAmount(micros: number, decimals = 2): string {
  const value = (Math.round(micros / 10 ** (6 - decimals)) / 10 ** decimals).toFixed(decimals);
  return value.replace(/\.?0+$/, '') || '0';
}

/** "1.50" style conversion counts as Meta prints them ("3", "1.5"). */
function countString(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** The UTC offset (hours, fractional) of a zone at an instant, as timezone_offset_hours_utc reports it. */
function offsetHours(timeZone: string, at: number): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(new Date(at));
  const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) + Number(m[3]) / 60);
}

export function createMetaAdsEmulator(world: World, opts: MetaAdsEmulatorOptions = {}): MetaAdsEmulator {
  const store = new MetaAdsStore(world, opts);
  const now = opts.now ?? Date.now;
  const callBudget = opts.callBudget ?? 10_000;
  const accessToken = opts.accessToken ?? `EAAB${(fnv1a(`meta-token|${world.seed}`) >>> 0).toString(36)}ZCZBemu${(fnv1a(`meta-token2|${world.seed}`) >>> 0).toString(36)}ZDZD`;
  const usage = new Map<string, { windowStart: number; calls: number }>();
  let traceSeq = 0;

  const fbtrace = (): string => {
    traceSeq++;
    return `A${(fnv1a(`meta-trace|${world.seed}|${traceSeq}`) >>> 0).toString(36)}${traceSeq.toString(36)}`.padEnd(23, 'x').slice(0, 23);
  };
  const fail = (error: GraphError, status = 400, headers: Record<string, string> = {}): never => {
    throw new EmuHttpError(status, { error: { ...error, fbtrace_id: fbtrace() } }, headers);
  };

  /** Token from the Authorization header or the access_token parameter (Graph API "Access Tokens"). */
  const authorize = (req: EmuRequest, params: URLSearchParams): void => {
    const token = requestToken(req.headers, params);
    if (!token) {
      fail({ message: 'An active access token must be used to query information about the current user.', type: 'OAuthException', code: 2500 });
    }
    if (token !== accessToken) {
      fail({ message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 }, 400, {
        'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"',
      });
    }
  };

  /** Counts a call against the account's hourly budget; throttles past it. Returns the usage headers. */
  const meter = (accountId: string, kind: 'ads_insights' | 'ads_management'): Record<string, string> => {
    const t = now();
    let u = usage.get(accountId);
    if (!u || t - u.windowStart >= HOUR_MS) usage.set(accountId, (u = { windowStart: t, calls: 0 }));
    u.calls++;
    const pct = Math.min(100, Math.floor((u.calls * 100) / callBudget));
    const regainMinutes = u.calls > callBudget ? Math.max(1, Math.ceil((u.windowStart + HOUR_MS - t) / 60_000)) : 0;
    const headers = {
      'x-business-use-case-usage': JSON.stringify({
        [accountId]: [{ type: kind, call_count: pct, total_cputime: Math.floor(pct / 2), total_time: Math.floor(pct / 2), estimated_time_to_regain_access: regainMinutes, ads_api_access_tier: 'standard_access' }],
      }),
      'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: pct, reset_time_duration: regainMinutes * 60, ads_api_access_tier: 'standard_access' }),
      'x-fb-ads-insights-throttle': JSON.stringify({ app_id_util_pct: 0, acc_id_util_pct: pct, ads_api_access_tier: 'standard_access' }),
    };
    if (u.calls > callBudget) {
      fail(
        { message: 'There have been too many calls from this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.', type: 'OAuthException', code: 80000, error_subcode: 2446079, is_transient: true },
        400,
        headers,
      );
    }
    return headers;
  };

  /** Query parameters, plus form or JSON body parameters of a POST (Graph accepts either). */
  const paramsOf = (req: EmuRequest): URLSearchParams => {
    const params = new URLSearchParams(req.query);
    if (req.method === 'POST' && req.body.length > 0) {
      const type = req.headers['content-type'] ?? '';
      if (type.includes('json')) {
        for (const [k, v] of Object.entries(req.json<Record<string, unknown>>())) params.set(k, typeof v === 'string' ? v : JSON.stringify(v));
      } else {
        for (const [k, v] of req.form()) params.set(k, v);
      }
    }
    return params;
  };

  const accountOf = (req: EmuRequest) => {
    const id = req.params.accountId ?? '';
    const account = store.account(id);
    if (!account) {
      fail({
        message: `Unsupported get request. Object with ID 'act_${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: 'GraphMethodException',
        code: 100,
        error_subcode: 33,
      });
    }
    return account as NonNullable<typeof account>;
  };

  const fieldList = (params: URLSearchParams, allowed: Set<string>, defaults: string[], what: string): string[] => {
    const raw = params.get('fields');
    const fields = raw ? raw.split(',').map((f) => f.trim()).filter((f) => f !== '') : defaults;
    for (const f of fields) {
      if (!allowed.has(f)) fail({ message: `(#100) ${f} is not valid for fields param. Please check ${what} for all valid values`, type: 'OAuthException', code: 100 });
    }
    return fields;
  };

  /** Cursor paging over an ordered list: cursors encode the query and an offset. */
  const page = <T>(req: EmuRequest, params: URLSearchParams, items: readonly T[], scope: string, render: (item: T) => Record<string, unknown>): EmuResponse['body'] => {
    const limitRaw = params.get('limit');
    const limit = limitRaw === null ? 25 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1) fail({ message: `(#100) Param limit must be a positive integer`, type: 'OAuthException', code: 100 });
    const scopeHash = (fnv1a(scope) >>> 0).toString(36);
    let offset = 0;
    const after = params.get('after');
    if (after) {
      const m = /^(\w+):(\d+)$/.exec(Buffer.from(after, 'base64').toString('utf8'));
      if (!m || m[1] !== scopeHash) fail({ message: 'Invalid cursor: the after cursor does not belong to this query', type: 'OAuthException', code: 100 });
      offset = Number((m as RegExpExecArray)[2]);
    }
    const slice = items.slice(offset, offset + limit);
    const cursor = (n: number) => Buffer.from(`${scopeHash}:${n}`, 'utf8').toString('base64');
    const body: Record<string, unknown> = { data: slice.map(render) };
    if (slice.length > 0) {
      const paging: Record<string, unknown> = { cursors: { before: cursor(offset), after: cursor(offset + slice.length) } };
      if (offset + slice.length < items.length) {
        const next = new URLSearchParams(params);
        next.set('limit', String(limit));
        next.set('after', cursor(offset + slice.length));
        paging.next = `${req.origin}${req.path}?${next.toString()}`;
      }
      if (offset > 0) {
        const previous = new URLSearchParams(params);
        previous.delete('after');
        previous.set('before', cursor(offset));
        paging.previous = `${req.origin}${req.path}?${previous.toString()}`;
      }
      body.paging = paging;
    }
    return body;
  };

  /** time_range JSON, else the default date_preset last_30d (ending the world's last day). */
  const timeRange = (params: URLSearchParams): { since: string; until: string } => {
    const raw = params.get('time_range');
    if (raw === null) return { since: addDays(store.endDate, -29), until: store.endDate };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    const r = parsed as { since?: unknown; until?: unknown } | undefined;
    const day = /^\d{4}-\d{2}-\d{2}$/;
    if (!r || typeof r.since !== 'string' || typeof r.until !== 'string' || !day.test(r.since) || !day.test(r.until)) {
      return fail({ message: "(#100) Param time_range must be a JSON object with 'since' and 'until' in YYYY-MM-DD", type: 'OAuthException', code: 100 });
    }
    if (r.since > r.until) fail({ message: '(#100) time_range: since must not be after until', type: 'OAuthException', code: 100 });
    return { since: r.since, until: r.until };
  };

  const checkInsightsQuery = (params: URLSearchParams): { fields: string[]; daily: boolean } => {
    // Without `level` Meta reports at the queried object's own level (the account); only campaign level is emulated.
    const level = params.get('level') ?? 'account';
    if (level !== 'campaign') fail({ message: `(#100) The sandbox emulates level=campaign only, got level=${level}`, type: 'OAuthException', code: 100 });
    const inc = params.get('time_increment') ?? 'all_days';
    if (inc !== '1' && inc !== 'all_days') fail({ message: `(#100) The emulator serves time_increment=1 or all_days, got ${inc}`, type: 'OAuthException', code: 100 });
    return { fields: fieldList(params, INSIGHT_FIELDS, DEFAULT_INSIGHT_FIELDS, 'https://developers.facebook.com/docs/marketing-api/reference/ads-insights/'), daily: inc === '1' };
  };

  const reduceData = (): never =>
    fail({
      message: "Please reduce the amount of data you're asking for, then retry your request",
      type: 'OAuthException',
      code: 100,
      error_subcode: 1487534,
      error_user_title: 'Reduce the amount of data',
      error_user_msg: "Please reduce the amount of data you're asking for, then retry your request",
    });

  /** One insights row as Meta prints it: only the asked fields, plus date_start/date_stop. */
  const renderRow = (d: MetaDay, fields: readonly string[], since: string, until: string): Record<string, unknown> => {
    const account = store.account(d.accountId);
    const campaign = store.campaign(d.campaignId) as MetaCampaign;
    const leadLike = campaign.objective === 'OUTCOME_LEADS';
    const convType = leadLike ? 'lead' : 'purchase';
    const pixelType = leadLike ? 'offsite_conversion.fb_pixel_lead' : 'offsite_conversion.fb_pixel_purchase';
    const row: Record<string, unknown> = {};
    for (const f of fields) {
      switch (f) {
        case 'account_id': row.account_id = d.accountId; break;
        case 'account_name': row.account_name = account?.name; break;
        case 'account_currency': row.account_currency = account?.currency; break;
        case 'campaign_id': row.campaign_id = d.campaignId; break;
        case 'campaign_name': row.campaign_name = campaign.name; break;
        case 'objective': row.objective = campaign.objective; break;
        case 'spend': row.spend = microsToAmount(d.spendMicros); break;
        case 'impressions': row.impressions = String(d.impressions); break;
        case 'clicks': row.clicks = String(d.clicks); break;
        case 'actions': {
          // Meta omits action types with no count; 'lead'/'purchase' already include the pixel variant.
          const actions: Array<{ action_type: string; value: string }> = [];
          if (d.clicks > 0) actions.push({ action_type: 'link_click', value: String(d.clicks) });
          if (d.conversions > 0) {
            actions.push({ action_type: pixelType, value: countString(d.conversions) });
            actions.push({ action_type: convType, value: countString(d.conversions) });
          }
          if (actions.length > 0) row.actions = actions;
          break;
        }
        case 'action_values':
          if (d.conversionsValueMicros > 0) {
            const value = microsToAmount(d.conversionsValueMicros);
            row.action_values = [{ action_type: pixelType, value }, { action_type: convType, value }];
          }
          break;
      }
    }
    row.date_start = since;
    row.date_stop = until;
    for (const [k, v] of store.extraFields()) row[k] = v;
    switch (store.malformKind(d.campaignId, d.date)) {
      case 'non_numeric_spend': row.spend = 'N/A'; break;
      case 'missing_campaign_id': delete row.campaign_id; break;
      case 'bad_date': row.date_start = d.date.replace(/-/g, ''); row.date_stop = row.date_start; break;
      case 'actions_not_a_list': row.actions = `${convType}:${countString(d.conversions)}`; break;
      case undefined: break;
    }
    return row;
  };

  /** The rows of a report: per day (time_increment=1) or summed over the range per campaign. */
  const reportRows = (accountId: string, since: string, until: string, fields: readonly string[], daily: boolean): Record<string, unknown>[] => {
    const days = store.accountDays(accountId, since, until);
    if (daily) return days.map((d) => renderRow(d, fields, d.date, d.date));
    const sums = new Map<string, MetaDay>();
    for (const d of days) {
      const s = sums.get(d.campaignId);
      if (!s) sums.set(d.campaignId, { ...d });
      else {
        s.spendMicros += d.spendMicros;
        s.impressions += d.impressions;
        s.clicks += d.clicks;
        s.conversions += d.conversions;
        s.conversionsValueMicros += d.conversionsValueMicros;
      }
    }
    return [...sums.values()].sort((a, b) => a.campaignId.localeCompare(b.campaignId)).map((d) => renderRow(d, fields, since, until));
  };

  const account = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const acc = accountOf(req);
    const headers = meter(acc.id, 'ads_management');
    const fields = fieldList(params, ACCOUNT_FIELDS, ['id', 'account_id', 'name'], 'https://developers.facebook.com/docs/marketing-api/reference/ad-account/');
    const body: Record<string, unknown> = {};
    for (const f of fields) {
      if (f === 'account_id') body.account_id = acc.id;
      else if (f === 'name') body.name = acc.name;
      else if (f === 'currency') body.currency = acc.currency;
      else if (f === 'timezone_name') body.timezone_name = acc.timezoneName;
      else if (f === 'timezone_offset_hours_utc') body.timezone_offset_hours_utc = offsetHours(acc.timezoneName, now());
      else if (f === 'account_status') body.account_status = 1;
      else if (f === 'business_name') body.business_name = acc.name.replace(/\s+(US|EU)$/, '');
    }
    // The node id always comes back, last (Graph API "Using the Graph API": fields plus id).
    body.id = `act_${acc.id}`;
    return { status: 200, headers, body };
  };

  const campaigns = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const acc = accountOf(req);
    const headers = meter(acc.id, 'ads_management');
    const fields = fieldList(params, CAMPAIGN_FIELDS, ['id'], 'https://developers.facebook.com/docs/marketing-api/reference/ad-campaign-group/');
    const list = store.accountCampaigns(acc.id);
    const render = (c: MetaCampaign): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      const created = `${c.startDate}T09:00:00+0000`;
      for (const f of fields) {
        if (f === 'id') out.id = c.id;
        else if (f === 'account_id') out.account_id = c.accountId;
        else if (f === 'name') out.name = c.name;
        else if (f === 'status' || f === 'configured_status') out[f] = c.status;
        else if (f === 'effective_status') out.effective_status = c.status;
        else if (f === 'objective') out.objective = c.objective;
        else if (f === 'start_time') out.start_time = `${c.startDate}T00:00:00+0000`;
        else if (f === 'stop_time') { if (c.endDate < store.endDate) out.stop_time = `${addDays(c.endDate, 1)}T00:00:00+0000`; }
        else if (f === 'daily_budget') out.daily_budget = String(c.dailyBudget);
        else if (f === 'lifetime_budget') out.lifetime_budget = '0'; // the world's campaigns run on daily budgets
        else if (f === 'created_time') out.created_time = created;
        else if (f === 'updated_time') out.updated_time = created;
        else if (f === 'buying_type') out.buying_type = 'AUCTION';
      }
      if (out.id === undefined) out.id = c.id;
      return out;
    };
    return { status: 200, headers, body: page(req, params, list, `campaigns|${acc.id}|${fields.join(',')}`, render) };
  };

  const insights = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const acc = accountOf(req);
    const headers = meter(acc.id, 'ads_insights');
    const { fields, daily } = checkInsightsQuery(params);
    const range = timeRange(params);
    if (store.cellCount(acc.id, range.since, range.until) > store.maxSyncRows) reduceData();
    const rows = reportRows(acc.id, range.since, range.until, fields, daily);
    const scope = `insights|${acc.id}|${range.since}|${range.until}|${fields.join(',')}|${daily}`;
    return { status: 200, headers, body: page(req, params, rows, scope, (r) => r) };
  };

  const insightsAsync = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const acc = accountOf(req);
    const headers = meter(acc.id, 'ads_insights');
    checkInsightsQuery(params);
    const range = timeRange(params);
    const run = store.createRun(acc.id, range.since, range.until, params, now());
    return { status: 200, headers, body: { report_run_id: run.id } };
  };

  const runOf = (req: EmuRequest): ReportRun => {
    const id = req.params.runId ?? '';
    const run = store.run(id);
    if (!run) {
      return fail({
        message: `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: 'GraphMethodException',
        code: 100,
        error_subcode: 33,
      });
    }
    return run;
  };

  const reportRun = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const run = runOf(req);
    const headers = meter(run.accountId, 'ads_insights');
    store.advance(run, now());
    const body: Record<string, unknown> = {
      id: run.id,
      account_id: run.accountId,
      time_ref: Math.floor(run.createdAt / 1000),
      async_status: run.status,
      async_percent_completion: run.percent,
      date_start: run.since,
      date_stop: run.until,
    };
    if (run.completedAt !== undefined) body.time_completed = Math.floor(run.completedAt / 1000);
    if (run.status === 'Job Failed') {
      body.error_code = 100;
      body.error_subcode = 1487534;
      body.error_message = "Please reduce the amount of data you're asking for, then retry your request";
      body.error_user_title = 'Reduce the amount of data';
      body.error_user_msg = 'Try a shorter date range or fewer fields.';
    }
    return { status: 200, headers, body };
  };

  const reportInsights = (req: EmuRequest): EmuResponse => {
    const params = paramsOf(req);
    authorize(req, params);
    const run = runOf(req);
    const headers = meter(run.accountId, 'ads_insights');
    if (run.status !== 'Job Completed') {
      fail({ message: `(#100) Report run ${run.id} is not complete (async_status ${run.status}); poll /${run.id} until 'Job Completed'`, type: 'OAuthException', code: 100 });
    }
    const { fields, daily } = checkInsightsQuery(run.params);
    const rows = reportRows(run.accountId, run.since, run.until, fields, daily);
    // Paging parameters of the read itself; the query is the one the run was created with.
    return { status: 200, headers, body: page(req, params, rows, `run|${run.id}`, (r) => r) };
  };

  const V = '(?<version>v\\d+\\.\\d+)';
  const routes: RouteDef[] = [
    { api: 'meta_ads', route: 'account', method: 'GET', pattern: new RegExp(`^/${V}/act_(?<accountId>[^/]+)$`), handler: account },
    { api: 'meta_ads', route: 'campaigns', method: 'GET', pattern: new RegExp(`^/${V}/act_(?<accountId>[^/]+)/campaigns$`), handler: campaigns },
    { api: 'meta_ads', route: 'insights', method: 'GET', pattern: new RegExp(`^/${V}/act_(?<accountId>[^/]+)/insights$`), handler: insights },
    { api: 'meta_ads', route: 'insights_async', method: 'POST', pattern: new RegExp(`^/${V}/act_(?<accountId>[^/]+)/insights$`), handler: insightsAsync },
    { api: 'meta_ads', route: 'report_run', method: 'GET', pattern: new RegExp(`^/${V}/(?<runId>\\d+)$`), handler: reportRun },
    { api: 'meta_ads', route: 'report_insights', method: 'GET', pattern: new RegExp(`^/${V}/(?<runId>\\d+)/insights$`), handler: reportInsights },
  ];

  return {
    routes,
    store,
    accessToken,
    env: (origin: string) => ({
      META_BASE_URL: origin,
      META_ACCESS_TOKEN: accessToken,
      META_AD_ACCOUNT_ID: store.accounts.map((a) => `act_${a.id}`).join(','),
    }),
  };
}
