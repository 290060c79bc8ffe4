// WhatsApp API: calls, latency percentiles, errors, rate limits, webhooks, instances.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },
    local q(p) = g.target(queries.histogramQuantile(c, p, 'whatsapp_api_latency_seconds', v.sel), 'p%d' % (p * 100)),

    whatsapp: g.dashboard(c, 'whatsapp', 'Anclora / WhatsApp API', variables=[
      g.instanceVariable(c),
    ], panels=[
      g.timeseries('API calls by status', 'reqps', description='Calls to the WhatsApp API per second, stacked by HTTP status code, reported by the app as events.', stack=true, targets=[
        g.target('sum by (status_code) (rate(%(ns)s_whatsapp_api_calls_total{%(sel)s}[$__rate_interval]))' % v, '{{status_code}}'),
      ]),
      g.timeseries('API latency', 's', targets=[q(0.5), q(0.95), q(0.99)],
                   description='p50, p95, p99 latency (seconds) of WhatsApp API calls, reported by the app; HighWhatsAppAPILatency warns when p95 > %gs for %s.' % [c.whatsappLatencyWarningSeconds, c.whatsappLatencyWarningFor]),
      g.timeseries('Errors by status code', 'reqps', targets=[
        g.target('sum by (status_code, endpoint) (rate(%(ns)s_whatsapp_api_calls_total{%(sel)s, status_code!~"2.."}[$__rate_interval]))' % v, '{{status_code}} {{endpoint}}'),
      ], description='Every non-2xx answer of the WhatsApp API per second, by status and endpoint, reported by the app; WhatsAppAPIErrors warns on status %s above %g/s for %s; WhatsAppAPIErrorBudgetBurnFast (page) and WhatsAppAPIErrorBudgetBurnSlow (ticket) fire when errors spend the error budget of the API too fast.' % [c.whatsappServerErrorStatus, c.whatsappErrorRateWarning, c.whatsappErrorRateWarningFor]),
      g.timeseries('Rate-limit hits', 'suffix: /s', description='Rate-limit responses from the WhatsApp API per second, by instance, reported by the app; WhatsAppRateLimitHit warns above %g/s for %s.' % [c.whatsappRateLimitWarning, c.whatsappRateLimitWarningFor], targets=[
        g.target('sum by (instance_name) (rate(%(ns)s_whatsapp_rate_limit_hits_total{%(sel)s}[$__rate_interval]))' % v, '{{instance_name}}'),
      ]),
      g.timeseries('Webhooks received', 'suffix: /s', description='Webhooks received from the WhatsApp API per second, by event type, reported by the app as events.', stack=true, targets=[
        g.target('sum by (event_type) (rate(%(ns)s_whatsapp_webhooks_received_total{%(sel)s}[$__rate_interval]))' % v, '{{event_type}}'),
      ]),
      g.stat('Active instances', 'short', description='WhatsApp instances (numbers/sessions) connected, reported by the app; NoActiveInstances pages after %s below 1.' % c.noInstancesFor, w=12, h=8, thresholds=[[null, 'red'], [1, 'green']], targets=[
        g.target('max(%(ns)s_whatsapp_active_instances{%(sel)s})' % v),
      ]),
    ]),
  },
}
