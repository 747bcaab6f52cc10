import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, DROPPED_DEFAULT_METRICS } from '../../../src/observability/metrics.ts';

describe('HTTP request metrics', () => {
  it('counts requests by route, method and code, and times them by route and method', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.http.observeRequest({ route: '/api/v1/channels/:name', method: 'GET', code: 200 }, 0.003);
    metrics.http.observeRequest({ route: '/api/v1/channels/:name', method: 'GET', code: 403 }, 0.02);
    const text = await metrics.registry.metrics();
    assert.match(text, /^# TYPE http_requests_total counter$/m);
    assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
    assert.match(text, /^http_requests_total\{route="\/api\/v1\/channels\/:name",method="GET",code="403"\} 1$/m);
    assert.match(text, /^http_request_duration_seconds_count\{route="\/api\/v1\/channels\/:name",method="GET"\} 2$/m);
    assert.match(
      text,
      /^http_request_duration_seconds_bucket\{le="0\.005",route="\/api\/v1\/channels\/:name",method="GET"\} 1$/m,
    );
  });

  it('starts with no HTTP series: labels come only from served requests', async () => {
    const json = await createMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON();
    const http = json.find((m) => m.name === 'http_requests_total');
    assert.deepEqual(http?.values, []);
  });

  it('drops the *_total gauges promtool rejects, keeping the per-type gauges they sum', async () => {
    const text = await createMetrics().registry.metrics();
    for (const name of DROPPED_DEFAULT_METRICS) {
      assert.doesNotMatch(text, new RegExp(`^# TYPE ${name} `, 'm'));
      assert.match(text, new RegExp(`^# TYPE ${name.replace(/_total$/, '')} gauge$`, 'm'));
    }
  });
});
