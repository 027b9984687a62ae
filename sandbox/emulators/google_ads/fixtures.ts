/**
 * Documented example responses of the Google Ads API, kept as test fixtures: the emulator's
 * answers must have exactly these field names and JSON types.
 */

/**
 * `googleAds:searchStream` (REST): an array of SearchGoogleAdsStreamResponse batches.
 * Source: Google Ads API reference "SearchGoogleAdsStreamResponse" (results[], fieldMask, requestId)
 * and "GoogleAdsRow"; REST guide "Making requests" / "Reporting": lowerCamelCase fields, int64 as
 * strings, each resource object with its resourceName.
 */
export const searchStreamExample = [
  {
    results: [
      {
        customer: { resourceName: 'customers/1234567890', id: '1234567890', currencyCode: 'USD', timeZone: 'America/New_York' },
        campaign: {
          resourceName: 'customers/1234567890/campaigns/987654321',
          id: '987654321',
          name: 'Search | Brand | US',
          status: 'ENABLED',
          advertisingChannelType: 'SEARCH',
        },
        metrics: { costMicros: '1230000', impressions: '12', clicks: '3', conversions: 1.5, conversionsValue: 30 },
        segments: { date: '2026-10-01' },
      },
    ],
    fieldMask:
      'customer.id,customer.currencyCode,customer.timeZone,campaign.id,campaign.name,campaign.status,campaign.advertisingChannelType,metrics.costMicros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversionsValue,segments.date',
    requestId: 'fXxKk2FQDLyUvQbSwmpYNg',
  },
];

/** `googleAds:search` with more pages (Google Ads API reference "SearchGoogleAdsResponse"). */
export const searchExample = {
  results: [{ campaign: { resourceName: 'customers/1234567890/campaigns/987654321', id: '987654321' }, segments: { date: '2026-10-01' } }],
  fieldMask: 'campaign.id,segments.date',
  nextPageToken: 'CM3y8tUvEAAYASIK',
  totalResultsCount: '25000',
  requestId: 'fXxKk2FQDLyUvQbSwmpYNg',
};

/** A failed call: google.rpc.Status with a GoogleAdsFailure (reference "GoogleAdsFailure"). */
export const failureExample = {
  error: {
    code: 400,
    message: 'Request contains an invalid argument.',
    status: 'INVALID_ARGUMENT',
    details: [
      {
        '@type': 'type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure',
        errors: [{ errorCode: { queryError: 'UNRECOGNIZED_FIELD' }, message: "Unrecognized field in the query: 'campaign.foo'." }],
        requestId: 'fXxKk2FQDLyUvQbSwmpYNg',
      },
    ],
  },
};

/** Token endpoint answer (Google Identity "Refreshing an access token (offline access)"). */
export const tokenExample = {
  access_token: '1/fFAGRNJru1FTz70BzhT3Zg',
  expires_in: 3920,
  scope: 'https://www.googleapis.com/auth/adwords',
  token_type: 'Bearer',
};
