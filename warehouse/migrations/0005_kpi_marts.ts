import type { Knex } from 'knex';
import { createDocumentedTable, type ColumnDoc } from './documented-table.ts';

/**
 * KPI marts: the monthly numbers BI dashboards chart. Names and columns are a contract; every
 * column is commented. Amounts are in the reporting currency; ratios with an empty denominator are
 * NULL (never 0 or infinity).
 */
const kpiColumns: ColumnDoc[] = [
  { name: 'model', type: 'text NOT NULL', doc: 'Attribution model the credited figures (opportunities, customers, pipeline, revenue and the ratios built on them) use; spend, traffic and lead counts are the same under every model.' },
  { name: 'reporting_currency', type: 'text NOT NULL', doc: 'ISO 4217 currency of every amount in the row.' },
  { name: 'spend', type: 'numeric NOT NULL', doc: 'Ad and offline spend in the month, in the reporting currency (marts.fct_ad_spend_daily.spend_reporting).' },
  { name: 'impressions', type: 'bigint NOT NULL', doc: 'Impressions in the month.' },
  { name: 'clicks', type: 'bigint NOT NULL', doc: 'Clicks in the month.' },
  { name: 'sessions', type: 'bigint NOT NULL', doc: 'Web sessions in the month (marts.fct_web_traffic_daily).' },
  { name: 'leads', type: 'bigint NOT NULL', doc: 'People who became leads in the month, counted on the channel/campaign of their lead-creation touch (the last touch at or before lead creation).' },
  { name: 'mqls', type: 'bigint NOT NULL', doc: 'People who became marketing-qualified in the month (where the CRM records it), on their lead-creation touch.' },
  { name: 'sqls', type: 'bigint NOT NULL', doc: 'People who became sales-qualified in the month (where the CRM records it), on their lead-creation touch.' },
  { name: 'opportunities', type: 'numeric NOT NULL', doc: 'Opportunities created in the month, fractionally credited under the model (sum of credit).' },
  { name: 'customers', type: 'numeric NOT NULL', doc: 'Opportunities closed won in the month (by close date), fractionally credited under the model.' },
  { name: 'pipeline', type: 'numeric NOT NULL', doc: 'Pipeline created in the month: sum of pipeline_credit of opportunities created in the month.' },
  { name: 'revenue', type: 'numeric NOT NULL', doc: 'Won revenue in the month: sum of revenue_credit of opportunities closed won in the month.' },
  { name: 'cpl', type: 'numeric', doc: 'Cost per lead: spend / leads. NULL when there are no leads.' },
  { name: 'cost_per_opportunity', type: 'numeric', doc: 'spend / opportunities. NULL when there are no opportunities.' },
  { name: 'cac', type: 'numeric', doc: 'Customer acquisition cost: spend / customers. NULL when there are no customers.' },
  { name: 'roas', type: 'numeric', doc: 'Return on ad spend: revenue / spend. NULL when there is no spend.' },
  { name: 'roi', type: 'numeric', doc: 'Return on investment: (revenue - spend) / spend. NULL when there is no spend.' },
  { name: 'lead_to_opportunity_rate', type: 'numeric', doc: 'opportunities / leads in the month. NULL when there are no leads.' },
  { name: 'opportunity_to_won_rate', type: 'numeric', doc: 'customers / opportunities in the month. NULL when there are no opportunities.' },
];

export const kpiMartTables = [
  {
    name: 'marts.kpi_channel_monthly',
    doc: 'Grain: one row per month x channel x attribution model. Key: (month, channel, model). Spend meets credit on the channel key.',
    key: ['month', 'channel', 'model'],
    columns: [
      { name: 'month', type: 'date NOT NULL', doc: 'First day of the month.' },
      { name: 'channel', type: 'text NOT NULL', doc: 'Channel from the channel grouping rules.' },
      ...kpiColumns,
    ],
  },
  {
    name: 'marts.kpi_campaign_monthly',
    doc: 'Grain: one row per month x campaign x attribution model. Key: (month, campaign_key, model). campaign_key is the ad platform campaign id when touches carry it (utm_id) and spend has it, else the campaign name.',
    key: ['month', 'campaign_key', 'model'],
    columns: [
      { name: 'month', type: 'date NOT NULL', doc: 'First day of the month.' },
      { name: 'campaign_key', type: 'text NOT NULL', doc: 'Ad platform campaign id, or the campaign name where no id joins spend to touches.' },
      { name: 'campaign_name', type: 'text', doc: 'Campaign name (from spend, else from the touches).' },
      { name: 'channel', type: 'text', doc: 'Channel of the campaign.' },
      ...kpiColumns,
    ],
  },
  {
    name: 'marts.kpi_funnel_monthly',
    doc: 'Grain: one row per month x pipeline x stage (the month an opportunity entered the stage). Key: (month, pipeline, stage). From the opportunity stage history: how many entered, moved on, were lost, and how long they stayed.',
    key: ['month', 'pipeline', 'stage'],
    columns: [
      { name: 'month', type: 'date NOT NULL', doc: 'First day of the month the opportunities entered the stage.' },
      { name: 'pipeline', type: 'text NOT NULL', doc: "Sales pipeline ('default' when the CRM has one)." },
      { name: 'stage', type: 'text NOT NULL', doc: 'Stage name (Salesforce StageName, HubSpot dealstage).' },
      { name: 'stage_order', type: 'integer', doc: 'Typical position of the stage: its median position in opportunity histories (1 = first stage).' },
      { name: 'entered', type: 'bigint NOT NULL', doc: 'Opportunities that entered the stage in the month.' },
      { name: 'advanced', type: 'bigint NOT NULL', doc: 'Of those, how many later moved to another stage that is not a lost stage.' },
      { name: 'lost', type: 'bigint NOT NULL', doc: 'Of those, how many moved next to a closed-lost stage.' },
      { name: 'still_in_stage', type: 'bigint NOT NULL', doc: 'Of those, how many have not left the stage yet.' },
      { name: 'conversion_rate', type: 'numeric', doc: 'advanced / entered. NULL when none entered.' },
      { name: 'avg_days_in_stage', type: 'numeric', doc: 'Mean days between entering the stage and the next stage change, over those that left it. NULL when none left.' },
    ],
  },
];

export async function up(knex: Knex): Promise<void> {
  for (const table of kpiMartTables) await createDocumentedTable(knex, table);
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}
