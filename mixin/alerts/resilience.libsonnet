// Resilience: the app's circuit breakers, its own rate limiter, its HTTP server (5xx ratio
// and p95) and its error count per hour (the user's traffic light: more than 5 an hour
// amber, more than 20 red). All read app events through the exporter.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local httpCount = '%(ns)s_http_request_duration_seconds_count' % c,

    local errorsPerHour(name, severity, threshold) = lib.alert(
      name, severity, subject='errors-per-hour', dependsOn='exporter', forDuration=c.errorsPerHourFor,
      dashboard='errors', panel='Errors by severity', vars='&var-service={{ $labels.service }}',
      expr='sum by (service) (increase(%(ns)s_errors_total{%(exporterSelector)s, severity=~"%(errorsPerHourSeverities)s"}[1h])) > %(t)g'
           % (c { t: threshold }),
      summary='{{ $labels.service }} logs many errors.',
      description='{{ $labels.service }} logged {{ printf "%%.0f" $value }} errors in the last hour (threshold %g).' % threshold,
    ),

    groups+: [lib.group('resilience', [
      lib.alert(
        'CircuitBreakerOpen', 'warning', subject='circuit-breaker', dependsOn='exporter', forDuration=c.circuitBreakerOpenFor,
        dashboard='errors', panel='Open circuit breakers',
        expr='max by (breaker) (%(ns)s_circuit_breaker_state{%(exporterSelector)s, state="open"}) == 1' % c,
        summary='Circuit breaker {{ $labels.breaker }} is open.',
        description='Circuit breaker {{ $labels.breaker }} has been open for %s: calls through it fail fast.' % c.circuitBreakerOpenFor,
      ),
      lib.alert(
        'HighRateLimitRejections', 'warning', subject='rate-limit-rejections', dependsOn='exporter', forDuration=c.rateLimitRejectionsFor,
        dashboard='errors', panel='Rate-limit rejections',
        expr='sum by (limiter) (rate(%(ns)s_rate_limit_rejections_total{%(exporterSelector)s}[%(rateWindow)s])) > %(rateLimitRejectionsRate)g' % c,
        summary='Rate limiter {{ $labels.limiter }} refuses requests.',
        description='Rate limiter {{ $labels.limiter }} refuses {{ printf "%%.2f" $value }} requests per second (threshold %g).' % c.rateLimitRejectionsRate,
      ),
      lib.alert(
        'HighHTTPErrorRate', 'warning', subject='http-errors', dependsOn='exporter', forDuration=c.httpErrorRatioFor,
        dashboard='errors', panel='HTTP latency p95',
        // Below minHttpRate requests per second a ratio is noise.
        expr=|||
          sum(rate(%(count)s{%(exporterSelector)s, status_code=~"%(httpServerErrorStatus)s"}[%(rateWindow)s]))
          /
          sum(rate(%(count)s{%(exporterSelector)s}[%(rateWindow)s])) > %(httpErrorRatioWarning)g
          and
          sum(rate(%(count)s{%(exporterSelector)s}[%(rateWindow)s])) > %(minHttpRate)g
        ||| % (c { count: httpCount }),
        summary="The app's HTTP server answers with errors.",
        description='{{ $value | humanizePercentage }} of HTTP requests answered 5xx in the last %s (threshold %g%%).' % [c.rateWindow, c.httpErrorRatioWarning * 100],
      ),
      lib.alert(
        'HighHTTPLatency', 'warning', subject='http-latency', dependsOn='exporter', forDuration=c.httpLatencyWarningFor,
        dashboard='errors', panel='HTTP latency p95',
        expr='histogram_quantile(%(httpLatencyQuantile)g, sum by (endpoint, le) (rate(%(ns)s_http_request_duration_seconds_bucket{%(exporterSelector)s}[%(rateWindow)s]))) > %(httpLatencyWarningSeconds)g' % c,
        summary='HTTP endpoint {{ $labels.endpoint }} is slow.',
        description='p%g latency of {{ $labels.endpoint }} is {{ $value | humanizeDuration }} (threshold %gs).' % [c.httpLatencyQuantile * 100, c.httpLatencyWarningSeconds],
      ),
      errorsPerHour('CriticalErrorsPerHour', 'critical', c.errorsPerHourCritical),
      errorsPerHour('HighErrorsPerHour', 'warning', c.errorsPerHourWarning),
    ])],
  },
}
