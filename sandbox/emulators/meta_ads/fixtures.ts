/**
 * Documented example responses of the Meta Marketing API (Graph API), kept as fixtures: the
 * emulator's answers (and the connector's nock tests) use exactly these field names and JSON types.
 */

/**
 * `GET act_{id}/insights?level=campaign&time_increment=1&fields=...`: reference "Ad Account
 * Insights" / "Ads Insights" (developers.facebook.com/docs/marketing-api/reference/ad-account/insights):
 * metrics are strings, actions/action_values are lists of { action_type, value }, every row has
 * date_start/date_stop; paging per Graph API "Paginated Results"
 * (developers.facebook.com/docs/graph-api/results): cursors.before/after, `next` only when more.
 */
export const insightsPageExample = {
  data: [
    {
      account_currency: 'USD',
      campaign_id: '120210000000000001',
      campaign_name: 'Lead Gen | Guide | US',
      spend: '80.11',
      impressions: '5413',
      clicks: '43',
      actions: [
        { action_type: 'link_click', value: '43' },
        { action_type: 'lead', value: '2' },
      ],
      action_values: [{ action_type: 'lead', value: '120' }],
      date_start: '2026-08-01',
      date_stop: '2026-08-01',
    },
  ],
  paging: {
    cursors: { before: 'MAZDZD', after: 'MQZDZD' },
    next: 'https://graph.facebook.com/v26.0/act_1234567890/insights?level=campaign&time_increment=1&limit=1&after=MQZDZD',
  },
};

/** `POST act_{id}/insights` (Insights API "Asynchronous Jobs"): the id of the AdReportRun. */
export const reportRunCreatedExample = { report_run_id: '6023920149050' };

/**
 * `GET /{report_run_id}`: reference "Ad Report Run" (async_status, async_percent_completion,
 * time_ref, time_completed, date_start, date_stop); error_* fields on failure since v25.0.
 */
export const reportRunExample = {
  id: '6023920149050',
  account_id: '1234567890',
  time_ref: 1793000000,
  time_completed: 1793000012,
  async_status: 'Job Completed',
  async_percent_completion: 100,
  date_start: '2026-08-01',
  date_stop: '2026-08-31',
};

/** `GET act_{id}?fields=...`: reference "Ad Account" (currency, timezone_name, ...). */
export const adAccountExample = {
  account_id: '1234567890',
  name: 'Brightlane Analytics US',
  currency: 'USD',
  timezone_name: 'America/Los_Angeles',
  timezone_offset_hours_utc: -7,
  account_status: 1,
  id: 'act_1234567890',
};

/** `GET act_{id}/campaigns?fields=...`: reference "Ad Account Campaigns" / "Ad Campaign". */
export const campaignsPageExample = {
  data: [
    {
      id: '120210000000000001',
      account_id: '1234567890',
      name: 'Lead Gen | Guide | US',
      status: 'ACTIVE',
      effective_status: 'ACTIVE',
      objective: 'OUTCOME_LEADS',
      start_time: '2026-08-01T00:00:00+0000',
      daily_budget: '10200',
      created_time: '2026-08-01T09:00:00+0000',
      updated_time: '2026-08-01T09:00:00+0000',
    },
  ],
  paging: { cursors: { before: 'MAZDZD', after: 'MAZDZD' } },
};

/** A Graph API error (Graph API "Handling Errors"): code 190 for a bad or expired token. */
export const tokenErrorExample = {
  error: { message: 'Error validating access token: Session has expired on Friday, 20-Nov-26 09:00:00 PST.', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id: 'AbCdEfGhIjKlMnOpQrStUvW' },
};

/** Insights "Limits and Best Practices": too much data for one call (code 100, subcode 1487534). */
export const reduceDataErrorExample = {
  error: {
    message: "Please reduce the amount of data you're asking for, then retry your request",
    type: 'OAuthException',
    code: 100,
    error_subcode: 1487534,
    error_user_title: 'Reduce the amount of data',
    error_user_msg: "Please reduce the amount of data you're asking for, then retry your request",
    fbtrace_id: 'AbCdEfGhIjKlMnOpQrStUvW',
  },
};

/**
 * Marketing API "Rate Limiting" / Graph API "Rate Limiting": throttled calls, and the usage
 * headers every Marketing API response carries (values are percentages; times in minutes /
 * seconds as named).
 */
export const throttleErrorExample = {
  error: { message: 'There have been too many calls from this ad-account. Wait a bit and try again.', type: 'OAuthException', code: 80000, error_subcode: 2446079, is_transient: true, fbtrace_id: 'AbCdEfGhIjKlMnOpQrStUvW' },
};
export const businessUseCaseUsageExample = {
  '1234567890': [{ type: 'ads_insights', call_count: 95, total_cputime: 20, total_time: 20, estimated_time_to_regain_access: 0, ads_api_access_tier: 'standard_access' }],
};
export const adAccountUsageExample = { acc_id_util_pct: 9.67, reset_time_duration: 0, ads_api_access_tier: 'standard_access' };
