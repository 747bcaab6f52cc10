import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createMetrics } from '../../../src/observability/metrics.ts';

interface Target {
  expr?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
  datasource?: { uid?: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../../deploy/grafana/warroom-dashboard.json', import.meta.url), 'utf8'),
) as Dashboard;

/** Grafana's reference to the dashboard's data source variable (Grafana syntax, not a JS template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax
const DATASOURCE_VARIABLE = '${datasource}';

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
]);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or variables. */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors, $__rate_interval
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // grouping label lists
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    const word = m[1] as string;
    if (!PROMQL_WORDS.has(word)) names.add(word);
  }
  return [...names];
}

/** Every series name the registry exposes, with the _bucket/_sum/_count series of histograms and summaries. */
async function exportedSeriesNames(): Promise<Set<string>> {
  const metrics = createMetrics();
  metrics.controller('incidentchannel');
  metrics.workqueue('incidentchannel');
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const graphPanels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
const exprs = graphPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));

describe('Grafana dashboard', () => {
  it('parses the PromQL the way the check below relies on', () => {
    assert.deepEqual(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job=~"$job", x="a b"}[$__rate_interval])))',
      ),
      ['http_request_duration_seconds_bucket'],
    );
    assert.deepEqual(metricNamesIn('max by (phase) (warroom_channels) or on(job) vector(0)'), ['warroom_channels']);
  });

  it('every panel query reads only metrics the operator registry exports', async () => {
    const exported = await exportedSeriesNames();
    assert.ok(exprs.length >= 5);
    for (const { panel, expr } of exprs) {
      const names = metricNamesIn(expr);
      assert.ok(names.length > 0, `${panel}: "${expr}" reads no metric`);
      for (const name of names) assert.ok(exported.has(name), `${panel}: ${name} is not exported by the registry`);
    }
  });

  it('the job variable is drawn from an exported metric', async () => {
    const exported = await exportedSeriesNames();
    const job = dashboard.templating.list.find((v) => v.name === 'job');
    const query = (job?.query as { query?: string } | undefined)?.query ?? '';
    const metric = /label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),/.exec(query)?.[1];
    assert.ok(metric && exported.has(metric), query);
  });

  it('covers channels by phase, time to Ready quantiles, reconcile errors, TTL lateness and workqueue depth', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    assert.match(all, /by \(phase\) \(warroom_channels/);
    assert.match(all, /histogram_quantile\(0\.99, sum by \(le\) \(rate\(warroom_channel_ready_seconds_bucket/);
    assert.match(all, /rate\(controller_runtime_reconcile_errors_total/);
    assert.match(all, /histogram_quantile\(0\.9, sum by \(le\) \(rate\(warroom_ttl_lateness_seconds_bucket/);
    assert.match(all, /workqueue_depth/);
  });

  it('every panel uses the dashboard data source variable, and ids are unique', () => {
    for (const p of graphPanels) assert.equal(p.datasource?.uid, DATASOURCE_VARIABLE, p.title);
    const ids = allPanels(dashboard.panels).map((p) => (p as Panel & { id: number }).id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(dashboard.uid, 'warroom-operator');
  });
});
