import type { Knex } from 'knex';

/**
 * Touches known only by an email address (HubSpot marketing email events and form submissions
 * carry no contact id): core.fct_touchpoint keeps the address, and person_id may be NULL until a
 * person with that address exists. The transform links such a touch to the person of its
 * connection with that email (staging.int_touchpoints), so a contact created after the event
 * still gets the touch.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE core.fct_touchpoint ADD COLUMN IF NOT EXISTS email text');
  await knex.raw('ALTER TABLE core.fct_touchpoint ALTER COLUMN person_id DROP NOT NULL');
  await knex.raw(`COMMENT ON COLUMN core.fct_touchpoint.email IS 'Lower-cased email address the vendor gave for the touch; links it to a core.dim_person of the same connection when person_id is NULL.'`);
  await knex.raw(`COMMENT ON COLUMN core.fct_touchpoint.person_id IS 'core.dim_person of the same connection; NULL when the vendor gave only an email address that matched no person when read.'`);
  await knex.raw('CREATE INDEX IF NOT EXISTS fct_touchpoint_unlinked_email_idx ON core.fct_touchpoint (connection_id, email) WHERE person_id IS NULL');
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}
