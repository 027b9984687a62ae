import type { Knex } from 'knex';
import { sqlLiteral } from '../sql.ts';
import { createDocumentedTable, type TableDoc } from './documented-table.ts';

/**
 * FX rates and the first marts: attribution and the spend / traffic facts BI reads.
 * Every marts table and column carries a COMMENT (grain, meaning, currency, how it is computed):
 * the data dictionary (`mpm docs`) is generated from them, and a test fails on a missing one.
 */
export const martTables: TableDoc[] = [
  {
    name: 'marts.fct_attribution',
    doc: 'Grain: one row per opportunity x touchpoint x attribution model. Key: (connection_id, opportunity_id, touchpoint_id, model). Credits are >= 0 and sum to 1 per opportunity and model (an opportunity without touches in its lookback window has no rows). pipeline_credit and revenue_credit are in the reporting currency.',
    key: ['connection_id', 'opportunity_id', 'touchpoint_id', 'model'],
    columns: [
      { name: 'connection_id', type: 'text NOT NULL', doc: 'CRM connection the opportunity and its touchpoints come from.' },
      { name: 'opportunity_id', type: 'text NOT NULL', doc: 'CRM opportunity / deal id.' },
      { name: 'touchpoint_id', type: 'text NOT NULL', doc: 'Touchpoint id (core.fct_touchpoint) credited.' },
      { name: 'model', type: 'text NOT NULL', doc: 'Attribution model: first_touch, last_touch, last_non_direct, linear, time_decay, u_shaped, w_shaped, full_path, custom, markov, shapley, fractribution.' },
      { name: 'person_key', type: 'text NOT NULL', doc: 'The person who made the touch (connection:canonical person id; a converted Salesforce lead is keyed by its contact).' },
      { name: 'occurred_at', type: 'timestamptz NOT NULL', doc: 'When the touch happened (UTC).' },
      { name: 'touch_position', type: 'integer NOT NULL', doc: '1-based position of the touch in the opportunity path, ordered by (occurred_at, touchpoint_id).' },
      { name: 'touch_count', type: 'integer NOT NULL', doc: 'Number of touches in the opportunity path (within the lookback window, up to the conversion event).' },
      { name: 'channel', type: 'text NOT NULL', doc: 'Channel of the touch from the channel grouping rules (Paid Search, Paid Social, Organic Search, Email, Referral, Direct, Events, Display, Other).' },
      { name: 'campaign', type: 'text', doc: 'utm_campaign of the touch (or its CRM campaign name).' },
      { name: 'ad_campaign_id', type: 'text', doc: 'Ad platform campaign id carried by the touch (utm_id), joining credit to spend.' },
      { name: 'is_first_touch', type: 'boolean NOT NULL', doc: 'Key moment: the first touch of the path.' },
      { name: 'is_lead_creation_touch', type: 'boolean NOT NULL', doc: 'Key moment: the last touch at or before the lead was created.' },
      { name: 'is_opportunity_creation_touch', type: 'boolean NOT NULL', doc: 'Key moment: the last touch at or before the opportunity was created.' },
      { name: 'is_closed_won_touch', type: 'boolean NOT NULL', doc: 'Key moment: the last touch at or before the opportunity was closed won (only when the conversion event is closed_won).' },
      { name: 'credit', type: 'numeric NOT NULL', doc: 'Share of the opportunity credited to this touch under this model, 0..1.' },
      { name: 'pipeline_credit', type: 'numeric', doc: 'credit x opportunity amount, converted to the reporting currency at the FX rate of the opportunity creation date. NULL when the amount or the rate is unknown.' },
      { name: 'revenue_credit', type: 'numeric', doc: 'credit x won amount (0 for open or lost opportunities), in the reporting currency at the FX rate of the close date. NULL when the amount or the rate is unknown.' },
      { name: 'reporting_currency', type: 'text NOT NULL', doc: 'ISO 4217 currency of pipeline_credit and revenue_credit (transform.reportingCurrency, default USD).' },
      { name: 'opportunity_created_at', type: 'timestamptz', doc: 'When the opportunity was created.' },
      { name: 'is_won', type: 'boolean NOT NULL', doc: 'The opportunity is closed won.' },
      { name: 'close_date', type: 'date', doc: 'Opportunity close date (expected, or actual when closed).' },
    ],
  },
  {
    name: 'marts.fct_ad_spend_daily',
    doc: 'Grain: one row per date x connection x campaign (the date in the ad account time zone). Key: (date, connection_id, campaign_id). Spend in the account currency and in the reporting currency; platform conversions as the platform reports them (platforms over-count).',
    key: ['date', 'connection_id', 'campaign_id'],
    columns: [
      { name: 'date', type: 'date NOT NULL', doc: 'Day of the spend, in the ad account time zone.' },
      { name: 'connection_id', type: 'text NOT NULL', doc: 'Connection the spend came from (an ad platform connection or a CSV of offline spend).' },
      { name: 'campaign_id', type: 'text NOT NULL', doc: 'Ad platform campaign id (for CSV: the campaign name).' },
      { name: 'source_system', type: 'text NOT NULL', doc: 'Connector: google_ads, meta_ads or csv.' },
      { name: 'account_id', type: 'text', doc: 'Ad account (Google Ads customer id, Meta ad account id, CSV accountId).' },
      { name: 'campaign_name', type: 'text', doc: 'Campaign name as the platform reports it.' },
      { name: 'channel', type: 'text NOT NULL', doc: 'Channel from the channel grouping rules, the same key touchpoints carry, so spend and credit meet.' },
      { name: 'currency', type: 'text NOT NULL', doc: 'ISO 4217 currency of the ad account (of spend).' },
      { name: 'spend', type: 'numeric NOT NULL', doc: 'Cost in the account currency.' },
      { name: 'spend_reporting', type: 'numeric', doc: 'Cost in the reporting currency at the FX rate of the date. NULL when no rate is known.' },
      { name: 'reporting_currency', type: 'text NOT NULL', doc: 'ISO 4217 currency of spend_reporting.' },
      { name: 'impressions', type: 'bigint NOT NULL', doc: 'Impressions.' },
      { name: 'clicks', type: 'bigint NOT NULL', doc: 'Clicks.' },
      { name: 'platform_conversions', type: 'numeric NOT NULL', doc: 'Conversions the ad platform reports (its own attribution; usually over-counts compared with the CRM).' },
      { name: 'platform_conversion_value', type: 'numeric NOT NULL', doc: 'Conversion value the ad platform reports, in the account currency.' },
      { name: 'ctr', type: 'numeric', doc: 'Click-through rate: clicks / impressions. NULL when there were no impressions.' },
      { name: 'cpc', type: 'numeric', doc: 'Cost per click in the account currency: spend / clicks. NULL when there were no clicks.' },
    ],
  },
  {
    name: 'marts.fct_web_traffic_daily',
    doc: 'Grain: one row per date x connection x property x source x medium x campaign (GA4 session dimensions; the date in the property time zone). Key: (date, connection_id, property_id, source, medium, campaign).',
    key: ['date', 'connection_id', 'property_id', 'source', 'medium', 'campaign'],
    columns: [
      { name: 'date', type: 'date NOT NULL', doc: 'Day, in the GA4 property time zone.' },
      { name: 'connection_id', type: 'text NOT NULL', doc: 'GA4 connection.' },
      { name: 'property_id', type: 'text NOT NULL', doc: 'GA4 property id.' },
      { name: 'source', type: 'text NOT NULL', doc: 'Session source (sessionSource).' },
      { name: 'medium', type: 'text NOT NULL', doc: 'Session medium (sessionMedium).' },
      { name: 'campaign', type: 'text NOT NULL', doc: 'Session campaign name (sessionCampaignName).' },
      { name: 'channel', type: 'text NOT NULL', doc: 'Channel from the channel grouping rules over source, medium and campaign.' },
      { name: 'ga4_default_channel_group', type: 'text', doc: "GA4's own default channel group for comparison (sessionDefaultChannelGroup)." },
      { name: 'sessions', type: 'bigint NOT NULL', doc: 'Sessions.' },
      { name: 'engaged_sessions', type: 'bigint NOT NULL', doc: 'Engaged sessions.' },
      { name: 'conversions', type: 'numeric NOT NULL', doc: 'Key events (GA4 keyEvents, formerly conversions).' },
      { name: 'users', type: 'bigint NOT NULL', doc: 'Total users (summed over rows; users are not additive across days or dimensions).' },
    ],
  },
];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS core.fx_rate_daily (
      date           date    NOT NULL,
      from_currency  text    NOT NULL,
      to_currency    text    NOT NULL,
      rate           numeric NOT NULL CHECK (rate > 0),
      source         text    NOT NULL DEFAULT 'manual',
      _synced_at     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (date, from_currency, to_currency)
    )`);
  await knex.raw(`COMMENT ON TABLE core.fx_rate_daily IS ${sqlLiteral('Grain: one row per date x currency pair. Key: (date, from_currency, to_currency). 1 from_currency = rate to_currency. Loaded from CSV (mpm fx load) or seeded by the sandbox; a missing day uses the latest earlier rate.')}`);
  for (const table of martTables) await createDocumentedTable(knex, table);
  await knex.raw('CREATE INDEX IF NOT EXISTS fct_attribution_model_idx ON marts.fct_attribution (model, channel)');
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}
