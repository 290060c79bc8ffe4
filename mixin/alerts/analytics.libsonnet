// Analytics alerts (SPEC matrix group "analytics"). No per-queue subject: plain sums.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,

    // delivered/sent. A bot whose messages are never delivered has no `delivered` series
    // at all: `or vector(0)` keeps that case (0%) instead of dropping it. The ratio only
    // counts while messages are sent (minSentRate), so an idle bot stays silent.
    local delivery(name, severity, threshold, forDuration) = lib.alert(
      name, severity, subject='delivery-rate', dependsOn='exporter', forDuration=forDuration, dashboard='analytics', panel='Delivery rate',
      expr=|||
        (sum(rate(%(ns)s_analytics_messages_delivered_total{%(exporterSelector)s}[%(rateWindow)s])) or vector(0))
        /
        sum(rate(%(ns)s_analytics_messages_sent_total{%(exporterSelector)s}[%(rateWindow)s]))
        < %(t)g
        and
        sum(rate(%(ns)s_analytics_messages_sent_total{%(exporterSelector)s}[%(rateWindow)s])) > %(minSentRate)g
      ||| % (c { t: threshold }),
      summary='Few sent WhatsApp messages are delivered.',
      description='Only {{ $value | humanizePercentage }} of the messages sent in the last %s were delivered (threshold %g%%).' % [c.rateWindow, threshold * 100],
    ),

    groups+: [lib.group('analytics', [
      delivery('CriticalDeliveryRate', 'critical', c.deliveryRatioCritical, c.deliveryRatioCriticalFor),
      delivery('LowDeliveryRate', 'warning', c.deliveryRatioWarning, c.deliveryRatioWarningFor),
      lib.alert(
        'HighResponseTime', 'warning', subject='response-time', dependsOn='exporter', forDuration=c.responseTimeWarningFor,
        dashboard='analytics', panel='Average response time',
        expr=|||
          histogram_quantile(%(responseTimeQuantile)g,
            sum by (le) (rate(%(ns)s_analytics_response_time_seconds_bucket{%(exporterSelector)s}[%(rateWindow)s]))
          ) > %(responseTimeWarningSeconds)g
        ||| % c,
        summary='Customers wait long for an answer.',
        description='p%g response time to customers is {{ $value | humanizeDuration }} (threshold %gs).' % [c.responseTimeQuantile * 100, c.responseTimeWarningSeconds],
      ),
      lib.alert(
        'HighHandoffRate', 'info', subject='handoff-rate', dependsOn='exporter', forDuration=c.handoffRateInfoFor,
        dashboard='analytics', panel='Handoffs',
        expr='sum(rate(%(ns)s_analytics_handoffs_total{%(exporterSelector)s}[%(rateWindow)s])) > %(handoffRateInfo)g' % c,
        summary='Many conversations are handed to humans.',
        description='{{ printf "%%.2f" $value }} conversations per second are handed to a human (threshold %g/s).' % c.handoffRateInfo,
      ),
    ])],
  },
}
