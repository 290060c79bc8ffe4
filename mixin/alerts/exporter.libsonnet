// The exporter itself: if it is down or refuses events, every other alert goes blind.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    groups+: [lib.group('exporter', [
      lib.alert(
        'AncloraExporterDown', 'critical', subject='exporter-up', dependsOn=null, forDuration=c.exporterDownFor,
        dashboard='overview', panel='Exporter up',
        // Only when no replica answers: one replica of several down is not an outage.
        expr='max(up{%(exporterSelector)s}) == 0' % c,
        summary='The anclora exporter is down.',
        description='Prometheus has not scraped any anclora exporter replica for %s: queue, bot and business alerts cannot fire.' % c.exporterDownFor,
      ),
      lib.alert(
        'AncloraExporterTargetAbsent', 'critical', subject='exporter-target', dependsOn=null, forDuration=c.exporterDownFor,
        dashboard='overview', panel='Exporter up',
        // No target at all (a scrape config or service discovery mistake): `up` is absent.
        expr='absent(up{%(exporterSelector)s})' % c,
        summary='Prometheus has no anclora exporter target.',
        description='No target of job selector %s has been known to Prometheus for %s; check the scrape configuration.' % [c.exporterSelector, c.exporterDownFor],
      ),
      lib.alert(
        'AppEventsStopped', 'critical', subject='app-events', dependsOn='exporter', forDuration=c.appEventsStoppedFor,
        dashboard='overview', panel='Exporter up',
        // The app's gauges expire after 300s, so a dead bot resolves its own alerts: this is
        // the alert that stays. No event ingested in the window (no series at all counts as
        // none), while the exporter is up and events did arrive in the lookback: a fresh
        // install with no app yet never fires, and a dead app alerts for a whole lookback.
        expr=|||
          (sum(increase(%(ns)s_exporter_events_ingested_total{%(exporterSelector)s}[%(appEventsStoppedWindow)s])) or vector(0)) == 0
          and on ()
          sum(increase(%(ns)s_exporter_events_ingested_total{%(exporterSelector)s}[%(appEventsLookback)s])) > 0
          and on ()
          max(up{%(exporterSelector)s}) == 1
        ||| % c,
        summary='The app stopped sending events.',
        description='The exporter is up but has ingested no application event for %s, after events in the last %s: the bot is down or cannot reach the exporter.' % [c.appEventsStoppedWindow, c.appEventsLookback],
      ),
      lib.alert(
        'ExporterEventsRejected', 'warning', subject='events-rejected', dependsOn='exporter', forDuration=c.eventsRejectedFor,
        dashboard='errors', panel='Rejected events',
        // Webhooks failing authentication have their own alert (WhatsAppWebhookSignaturesFailing).
        expr='sum by (reason) (rate(%(ns)s_exporter_events_rejected_total{%(exporterSelector)s, reason!~"%(webhookAuthFailureReasons)s"}[%(rateWindow)s])) > %(eventsRejectedRate)g' % c,
        summary='The exporter rejects application events ({{ $labels.reason }}).',
        description='{{ printf "%.2f" $value }} application events per second are rejected with reason {{ $labels.reason }}: the metrics they carry are lost.',
      ),
      lib.alert(
        'ExporterStreamLagGrowing', 'warning', subject='stream-lag', dependsOn='exporter', forDuration=c.streamLagFor,
        dashboard='errors', panel='Stream lag',
        // All replicas share one consumer group, so they report the same lag: max.
        expr=|||
          max by (stream) (%(ns)s_exporter_stream_lag_entries{%(exporterSelector)s}) > %(streamLagWarning)d
          and on (stream)
          max by (stream) (deriv(%(ns)s_exporter_stream_lag_entries{%(exporterSelector)s}[%(streamLagTrendWindow)s])) > 0
        ||| % c,
        summary='The exporter falls behind reading {{ $labels.stream }}.',
        description='{{ $value | humanize }} entries of stream {{ $labels.stream }} are unread and the backlog has grown for %s; entries trimmed before they are read are lost to the metrics.' % c.streamLagFor,
      ),
    ])],
  },
}
