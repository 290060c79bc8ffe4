// Errors and resilience: errors, circuit breakers, rate limiting, health checks, cache,
// HTTP latency, and what the exporter refuses or fails to read.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },

    errors: g.dashboard(c, 'errors', 'Anclora / Errors and resilience', variables=[
      g.instanceVariable(c),
      g.queryVariable('service', 'Service', 'label_values(%(ns)s_errors_total{%(exporterSelector)s}, service)' % c),
    ], panels=[
      g.timeseries('Errors by severity', 'suffix: /s', description='Errors the app logged per second, stacked by severity, reported by the app as events; CriticalErrorLogged pages on any error of severity %s within %s; HighErrorsPerHour (amber) and CriticalErrorsPerHour (red) fire above %d and %d errors of severity %s in an hour.' % [std.strReplace(c.criticalErrorSeverities, '|', ' or '), c.criticalErrorWindow, c.errorsPerHourWarning, c.errorsPerHourCritical, std.strReplace(c.errorsPerHourSeverities, '|', ', ')], stack=true, targets=[
        g.target('sum by (severity) (rate(%(ns)s_errors_total{%(sel)s, service=~"$service"}[$__rate_interval]))' % v, '{{severity}}'),
      ]),
      g.timeseries('Errors by component', 'suffix: /s', description='Errors the app logged per second, stacked by service (component), reported by the app as events.', stack=true, targets=[
        g.target('sum by (service) (rate(%(ns)s_errors_total{%(sel)s, service=~"$service"}[$__rate_interval]))' % v, '{{service}}'),
      ]),
      g.timeseries('Open circuit breakers', 'short', targets=[
        g.target('max by (breaker) (%(ns)s_circuit_breaker_state{%(sel)s, state="open"})' % v, '{{breaker}} open'),
        g.target('max by (breaker) (%(ns)s_circuit_breaker_state{%(sel)s, state="half_open"})' % v, '{{breaker}} half open'),
      ], description='1 while a circuit breaker of the app is open (or half open), 0 otherwise, reported by the app; CircuitBreakerOpen warns when one stays open for %s.' % c.circuitBreakerOpenFor),
      g.timeseries('Rate-limit rejections', 'suffix: /s', description="Requests the app's own rate limiter refused per second, by limiter, reported by the app as events; HighRateLimitRejections warns above %g/s for %s." % [c.rateLimitRejectionsRate, c.rateLimitRejectionsFor], targets=[
        g.target('sum by (limiter) (rate(%(ns)s_rate_limit_rejections_total{%(sel)s}[$__rate_interval]))' % v, '{{limiter}}'),
      ]),
      g.bargauge('Health checks', 'percentunit', targets=[
        g.target('min by (check) (%(ns)s_health_check_status{%(sel)s})' % v, '{{check}}'),
      ], description="The exporter's health checks: 1 healthy, 0.5 degraded, 0 unhealthy (worst replica)."),
      g.timeseries('HTTP latency p95', 's', description="p95 and p99 of the app's HTTP request latency (seconds) by endpoint, from the histogram the app reports; HighHTTPLatency warns when p%g passes %gs for %s, HighHTTPErrorRate when more than %g%% of requests answer 5xx for %s." % [c.httpLatencyQuantile * 100, c.httpLatencyWarningSeconds, c.httpLatencyWarningFor, c.httpErrorRatioWarning * 100, c.httpErrorRatioFor], targets=[
        g.target(queries.histogramQuantile(c, 0.95, 'http_request_duration_seconds', v.sel, ['endpoint']), '{{endpoint}} p95'),
        g.target(queries.histogramQuantile(c, 0.99, 'http_request_duration_seconds', v.sel, ['endpoint']), '{{endpoint}} p99'),
      ]),
      g.timeseries('Cache hit ratio', 'percentunit', description='Share of cache look-ups that hit (0-100 %), by cache, reported by the app as events.', targets=[
        g.target('sum by (cache) (rate(%(ns)s_cache_requests_total{%(sel)s, result="hit"}[$__rate_interval])) / sum by (cache) (rate(%(ns)s_cache_requests_total{%(sel)s}[$__rate_interval]))' % v, '{{cache}}'),
      ]),
      g.timeseries('Rejected events', 'suffix: /s', targets=[
        g.target('sum by (reason) (rate(%(ns)s_exporter_events_rejected_total{%(sel)s}[$__rate_interval]))' % v, '{{reason}}'),
      ], description='Application events the exporter refused per second, by reason; ExporterEventsRejected warns above %g/s for %s.' % [c.eventsRejectedRate, c.eventsRejectedFor]),
      g.timeseries('Collector success', 'short', targets=[
        g.target('min by (collector) (%(ns)s_exporter_scrape_collector_success{%(sel)s})' % v, '{{collector}}'),
      ], description="1 when the exporter's collector succeeded at the last scrape, 0 when it failed (worst replica)."),
      g.timeseries('Stream lag', 'short', targets=[
        g.target('max by (stream) (%(ns)s_exporter_stream_lag_entries{%(sel)s})' % v, '{{stream}} lag'),
        g.target('max by (stream) (%(ns)s_exporter_stream_pending_entries{%(sel)s})' % v, '{{stream}} pending'),
      ], description='Entries of the Redis streams the exporter consumes (BullMQ events, app events) not yet read / not yet acknowledged; ExporterStreamLagGrowing warns above %d entries still growing for %s.' % [c.streamLagWarning, c.streamLagFor]),
    ]),
  },
}
