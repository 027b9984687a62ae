import type { Knex } from 'knex';
import { sqlLiteral } from '../sql.ts';

/**
 * Core tables: vendor-neutral entities and facts that connectors fill and the transform reads.
 * Columns follow what the vendors provide (Salesforce sObjects, HubSpot CRM v3 objects, Google Ads
 * campaign + metrics, Meta insights, GA4 runReport); later migrations may add columns.
 *
 * Conventions: (connection_id, <vendor id>) is every key, so two connections of one connector never
 * collide. Money is numeric with its ISO currency code beside it. is_deleted flags rows the vendor
 * deleted or archived (kept so history and BI stay explainable). _run_id / _synced_at tell which
 * sync last changed the row.
 */
const audit = `
      is_deleted     boolean     NOT NULL DEFAULT false,
      _run_id        bigint,
      _synced_at     timestamptz NOT NULL DEFAULT now()`;

const tables: Array<[name: string, ddl: string, comment: string]> = [
  [
    'core.dim_campaign',
    `CREATE TABLE IF NOT EXISTS core.dim_campaign (
      connection_id      text NOT NULL,
      campaign_id        text NOT NULL,
      source_system      text NOT NULL,
      account_id         text,
      name               text,
      status             text,
      campaign_type      text,
      channel_hint       text,
      parent_campaign_id text,
      currency           text,
      time_zone          text,
      start_date         date,
      end_date           date,
      budgeted_cost      numeric,
      actual_cost        numeric,
      utm_source         text,
      utm_medium         text,
      utm_campaign       text,
      created_at         timestamptz,
      updated_at         timestamptz,
      ${audit},
      PRIMARY KEY (connection_id, campaign_id)
    )`,
    'Grain: one row per connection x campaign (ad platform campaign, Salesforce campaign, HubSpot email campaign, CSV offline campaign). Key: (connection_id, campaign_id). campaign_type is the vendor type (advertising_channel_type, Salesforce Type); channel_hint a vendor-side hint for channel grouping.',
  ],
  [
    'core.fct_ad_spend_daily',
    `CREATE TABLE IF NOT EXISTS core.fct_ad_spend_daily (
      connection_id     text    NOT NULL,
      campaign_id       text    NOT NULL,
      date              date    NOT NULL,
      source_system     text    NOT NULL,
      account_id        text,
      campaign_name     text,
      channel_hint      text,
      currency          text    NOT NULL,
      spend             numeric NOT NULL DEFAULT 0,
      impressions       bigint  NOT NULL DEFAULT 0,
      clicks            bigint  NOT NULL DEFAULT 0,
      conversions       numeric NOT NULL DEFAULT 0,
      conversion_value  numeric NOT NULL DEFAULT 0,
      ${audit},
      PRIMARY KEY (connection_id, campaign_id, date)
    )`,
    'Grain: one row per connection x campaign x date (the date in the ad account time zone). Key: (connection_id, campaign_id, date). spend, conversion_value in the account currency (currency); conversions are as the platform reports them (platforms over-count).',
  ],
  [
    'core.fct_web_traffic_daily',
    `CREATE TABLE IF NOT EXISTS core.fct_web_traffic_daily (
      connection_id          text   NOT NULL,
      property_id            text   NOT NULL,
      date                   date   NOT NULL,
      source_system          text   NOT NULL,
      source                 text   NOT NULL,
      medium                 text   NOT NULL,
      campaign               text   NOT NULL,
      default_channel_group  text,
      sessions               bigint NOT NULL DEFAULT 0,
      engaged_sessions       bigint NOT NULL DEFAULT 0,
      key_events             numeric NOT NULL DEFAULT 0,
      total_users            bigint NOT NULL DEFAULT 0,
      extra                  jsonb  NOT NULL DEFAULT '{}'::jsonb,
      ${audit},
      PRIMARY KEY (connection_id, property_id, date, source, medium, campaign)
    )`,
    'Grain: one row per connection x property x date x source x medium x campaign (GA4 session-scoped dimensions, date in the property time zone). Key: (connection_id, property_id, date, source, medium, campaign). extra holds configured extra dimensions/metrics.',
  ],
  [
    'core.dim_account',
    `CREATE TABLE IF NOT EXISTS core.dim_account (
      connection_id  text NOT NULL,
      account_id     text NOT NULL,
      source_system  text NOT NULL,
      name           text,
      domain         text,
      industry       text,
      country        text,
      created_at     timestamptz,
      updated_at     timestamptz,
      ${audit},
      PRIMARY KEY (connection_id, account_id)
    )`,
    'Grain: one row per connection x CRM account / company. Key: (connection_id, account_id).',
  ],
  [
    'core.dim_person',
    `CREATE TABLE IF NOT EXISTS core.dim_person (
      connection_id             text NOT NULL,
      person_id                 text NOT NULL,
      source_system             text NOT NULL,
      person_type               text NOT NULL CHECK (person_type IN ('lead', 'contact')),
      email                     text,
      first_name                text,
      last_name                 text,
      title                     text,
      company                   text,
      account_id                text,
      lead_source               text,
      lead_status               text,
      lifecycle_stage           text,
      original_source           text,
      original_source_detail_1  text,
      original_source_detail_2  text,
      utm_source                text,
      utm_medium                text,
      utm_campaign              text,
      utm_content               text,
      utm_term                  text,
      created_at                timestamptz,
      lead_at                   timestamptz,
      mql_at                    timestamptz,
      sql_at                    timestamptz,
      opportunity_at            timestamptz,
      customer_at               timestamptz,
      is_converted              boolean NOT NULL DEFAULT false,
      converted_at              timestamptz,
      converted_contact_id      text,
      converted_account_id      text,
      converted_opportunity_id  text,
      updated_at                timestamptz,
      ${audit},
      PRIMARY KEY (connection_id, person_id)
    )`,
    'Grain: one row per connection x CRM person (a Salesforce Lead or Contact, a HubSpot contact). Key: (connection_id, person_id). A converted Salesforce lead points to its contact by converted_contact_id, so identity can follow the person across conversion. utm_* and original_source* are the first-touch values the CRM keeps. Holds personal data: not readable by the BI role.',
  ],
  [
    'core.fct_touchpoint',
    `CREATE TABLE IF NOT EXISTS core.fct_touchpoint (
      connection_id   text        NOT NULL,
      touchpoint_id   text        NOT NULL,
      source_system   text        NOT NULL,
      person_id       text        NOT NULL,
      occurred_at     timestamptz NOT NULL,
      touch_type      text        NOT NULL,
      campaign_id     text,
      ad_campaign_id  text,
      utm_source      text,
      utm_medium      text,
      utm_campaign    text,
      utm_content     text,
      utm_term        text,
      landing_page    text,
      referrer        text,
      status          text,
      responded       boolean,
      ${audit},
      PRIMARY KEY (connection_id, touchpoint_id)
    )`,
    'Grain: one row per marketing interaction of one person (campaign membership, form fill, email click, visit, event attendance, first-touch source). Key: (connection_id, touchpoint_id). person_id refers to core.dim_person in the same connection; campaign_id to core.dim_campaign in the same connection; ad_campaign_id is the ad platform campaign id found in the UTMs (utm_id), joining spend to touches.',
  ],
  [
    'core.fct_opportunity',
    `CREATE TABLE IF NOT EXISTS core.fct_opportunity (
      connection_id        text    NOT NULL,
      opportunity_id       text    NOT NULL,
      source_system        text    NOT NULL,
      account_id           text,
      name                 text,
      pipeline             text,
      stage                text,
      opportunity_type     text,
      lead_source          text,
      primary_campaign_id  text,
      amount               numeric,
      currency             text,
      probability          numeric,
      is_closed            boolean NOT NULL DEFAULT false,
      is_won               boolean NOT NULL DEFAULT false,
      created_at           timestamptz,
      close_date           date,
      closed_at            timestamptz,
      updated_at           timestamptz,
      ${audit},
      PRIMARY KEY (connection_id, opportunity_id)
    )`,
    'Grain: one row per connection x opportunity (Salesforce Opportunity, HubSpot deal). Key: (connection_id, opportunity_id). amount in currency (CurrencyIsoCode / deal_currency_code).',
  ],
  [
    'core.fct_opportunity_stage_history',
    `CREATE TABLE IF NOT EXISTS core.fct_opportunity_stage_history (
      connection_id   text        NOT NULL,
      history_id      text        NOT NULL,
      opportunity_id  text        NOT NULL,
      source_system   text        NOT NULL,
      stage           text        NOT NULL,
      entered_at      timestamptz NOT NULL,
      amount          numeric,
      currency        text,
      probability     numeric,
      close_date      date,
      ${audit},
      PRIMARY KEY (connection_id, history_id)
    )`,
    'Grain: one row per stage change of one opportunity. Key: (connection_id, history_id): the vendor history id (Salesforce OpportunityHistory.Id) or a deterministic id (HubSpot deal id + timestamp), never appended, so retries cannot duplicate it.',
  ],
  [
    'core.bridge_opportunity_person',
    `CREATE TABLE IF NOT EXISTS core.bridge_opportunity_person (
      connection_id   text    NOT NULL,
      opportunity_id  text    NOT NULL,
      person_id       text    NOT NULL,
      source_system   text    NOT NULL,
      role            text,
      is_primary      boolean NOT NULL DEFAULT false,
      ${audit},
      PRIMARY KEY (connection_id, opportunity_id, person_id)
    )`,
    'Grain: one row per connection x opportunity x person linked to it (Salesforce OpportunityContactRole, HubSpot deal-contact association). Key: (connection_id, opportunity_id, person_id).',
  ],
];

export async function up(knex: Knex): Promise<void> {
  for (const [name, ddl, comment] of tables) {
    await knex.raw(ddl);
    await knex.raw(`COMMENT ON TABLE ${name} IS ${sqlLiteral(comment)}`);
  }
  await knex.raw('CREATE INDEX IF NOT EXISTS fct_touchpoint_person_idx ON core.fct_touchpoint (connection_id, person_id, occurred_at)');
  await knex.raw('CREATE INDEX IF NOT EXISTS fct_stage_history_opp_idx ON core.fct_opportunity_stage_history (connection_id, opportunity_id, entered_at)');
  await knex.raw('CREATE INDEX IF NOT EXISTS bridge_opp_person_person_idx ON core.bridge_opportunity_person (connection_id, person_id)');
  await knex.raw('CREATE INDEX IF NOT EXISTS fct_ad_spend_daily_date_idx ON core.fct_ad_spend_daily (date)');
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}
