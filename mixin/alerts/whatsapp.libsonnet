// WhatsApp API alerts (SPEC matrix group "whatsapp").
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    groups+: [lib.group('whatsapp', [
      lib.alert(
        'NoActiveInstances', 'critical', subject='whatsapp-instances', dependsOn='exporter', forDuration=c.noInstancesFor,
        dashboard='whatsapp', panel='Active instances',
        // Every replica may hold the app's last report: max, not sum.
        expr='max(%(ns)s_whatsapp_active_instances{%(exporterSelector)s}) < 1' % c,
        summary='No WhatsApp instance is connected.',
        description='The app reports {{ $value | humanize }} connected WhatsApp instances: no message can be sent or received.',
      ),
      lib.alert(
        'HighWhatsAppAPILatency', 'warning', subject='whatsapp-api-latency', dependsOn='exporter', forDuration=c.whatsappLatencyWarningFor,
        dashboard='whatsapp', panel='API latency',
        expr=|||
          histogram_quantile(%(whatsappLatencyQuantile)g,
            sum by (le) (rate(%(ns)s_whatsapp_api_latency_seconds_bucket{%(exporterSelector)s}[%(rateWindow)s]))
          ) > %(whatsappLatencyWarningSeconds)g
        ||| % c,
        summary='The WhatsApp API answers slowly.',
        description='p%g WhatsApp API latency is {{ $value | humanizeDuration }} (threshold %gs).' % [c.whatsappLatencyQuantile * 100, c.whatsappLatencyWarningSeconds],
      ),
      lib.alert(
        'WhatsAppAPIErrors', 'warning', subject='whatsapp-api-errors', dependsOn='exporter', forDuration=c.whatsappErrorRateWarningFor,
        dashboard='whatsapp', panel='Errors by status code',
        expr='sum(rate(%(ns)s_whatsapp_api_calls_total{%(exporterSelector)s, status_code=~"%(whatsappServerErrorStatus)s"}[%(rateWindow)s])) > %(whatsappErrorRateWarning)g' % c,
        summary='The WhatsApp API returns server errors.',
        description='The WhatsApp API answers {{ printf "%%.2f" $value }} server errors (5xx) per second (threshold %g/s).' % c.whatsappErrorRateWarning,
      ),
      lib.alert(
        'WhatsAppRateLimitHit', 'warning', subject='whatsapp-rate-limit', dependsOn='exporter', forDuration=c.whatsappRateLimitWarningFor,
        dashboard='whatsapp', panel='Rate-limit hits',
        expr='sum(rate(%(ns)s_whatsapp_rate_limit_hits_total{%(exporterSelector)s}[%(rateWindow)s])) > %(whatsappRateLimitWarning)g' % c,
        summary='The WhatsApp API rate-limits the bot.',
        description='The WhatsApp API rate-limits the bot {{ printf "%%.2f" $value }} times per second (threshold %g/s).' % c.whatsappRateLimitWarning,
      ),
    ])],
  },
}
