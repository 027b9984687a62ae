import type { ConnectorDefinition, ConnectorName } from './core/connector.ts';
import { csvConnector } from './csv/index.ts';
import { ga4Connector } from './ga4/index.ts';
import { googleAdsConnector } from './google_ads/index.ts';
import { hubspotConnector } from './hubspot/index.ts';
import { metaAdsConnector } from './meta_ads/index.ts';
import { salesforceConnector } from './salesforce/index.ts';

/**
 * Every connector mpm ships. Adding a connector is its folder plus one line here.
 * (Typed loosely on Cfg: each connection's settings are parsed by its own connector's schema.)
 */
export const connectors: ReadonlyArray<ConnectorDefinition<unknown>> = [
  salesforceConnector as ConnectorDefinition<unknown>,
  hubspotConnector as ConnectorDefinition<unknown>,
  googleAdsConnector as ConnectorDefinition<unknown>,
  metaAdsConnector as ConnectorDefinition<unknown>,
  ga4Connector as ConnectorDefinition<unknown>,
  csvConnector as ConnectorDefinition<unknown>,
];

export function connectorByName(name: ConnectorName | string): ConnectorDefinition<unknown> | undefined {
  return connectors.find((c) => c.name === name);
}
