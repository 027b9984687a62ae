/**
 * Documented example responses of the GA4 Data API v1beta, kept as test fixtures: the emulator's
 * answers must have exactly these field names and JSON types (values are illustrative).
 */

/**
 * runReport with returnPropertyQuota. Sources: "RunReportResponse" (dimensionHeaders, metricHeaders,
 * rows, rowCount, metadata, propertyQuota, kind = "analyticsData#runReport"), "MetricHeader" (name,
 * type), "Row" / "DimensionValue" / "MetricValue" ({ value } strings), "ResponseMetaData"
 * (dataLossFromOtherRow, currencyCode, timeZone), "PropertyQuota" / "QuotaStatus" ({ consumed,
 * remaining } for tokensPerDay, tokensPerHour, concurrentRequests, serverErrorsPerProjectPerHour,
 * potentiallyThresholdedRequestsPerHour, tokensPerProjectPerHour), all under
 * developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/; the basics guide's
 * sample answer (developers.google.com/analytics/devguides/reporting/data/v1/basics).
 */
export const runReportExample = {
  dimensionHeaders: [{ name: 'date' }, { name: 'sessionSource' }],
  metricHeaders: [
    { name: 'sessions', type: 'TYPE_INTEGER' },
    { name: 'keyEvents', type: 'TYPE_FLOAT' },
  ],
  rows: [
    { dimensionValues: [{ value: '20260901' }, { value: 'google' }], metricValues: [{ value: '2541' }, { value: '12' }] },
    { dimensionValues: [{ value: '20260901' }, { value: '(direct)' }], metricValues: [{ value: '1210' }, { value: '4' }] },
  ],
  rowCount: 2,
  metadata: { dataLossFromOtherRow: true, currencyCode: 'USD', timeZone: 'America/Los_Angeles' },
  propertyQuota: {
    tokensPerDay: { consumed: 1, remaining: 199_987 },
    tokensPerHour: { consumed: 1, remaining: 39_995 },
    concurrentRequests: { consumed: 0, remaining: 10 },
    serverErrorsPerProjectPerHour: { consumed: 0, remaining: 10 },
    potentiallyThresholdedRequestsPerHour: { consumed: 0, remaining: 120 },
    tokensPerProjectPerHour: { consumed: 1, remaining: 13_995 },
  },
  kind: 'analyticsData#runReport',
};

/** getMetadata ("Metadata", "DimensionMetadata", "MetricMetadata", same reference). */
export const metadataExample = {
  name: 'properties/1234/metadata',
  dimensions: [{ apiName: 'sessionSource', uiName: 'Session source', description: 'The source that initiated a session on your website or app.', category: 'Traffic source' }],
  metrics: [
    { apiName: 'sessions', uiName: 'Sessions', description: 'The number of sessions that began on your site or app.', type: 'TYPE_INTEGER', category: 'Session' },
  ],
};

/** A refused request: google.rpc.Status JSON (cloud.google.com/apis/design/errors, "HTTP mapping"). */
export const errorExample = {
  error: { code: 400, message: 'Field sessionSauce is not a valid dimension.', status: 'INVALID_ARGUMENT' },
};
