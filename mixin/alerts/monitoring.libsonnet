// Monitoring the monitoring (kube-prometheus's "general" and Prometheus/Alertmanager
// self-alerts): Watchdog, the dead man's switch that proves the whole alerting pipeline
// works by always firing, and the alerts on the stack's own scrape targets, rule
// evaluation and notifications. Alertmanager routes Watchdog alone to the `deadmansswitch`
// receiver (alertmanager/alertmanager.yml).
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,

    groups+: [lib.group('monitoring', [
      lib.alert(
        'Watchdog', 'none', subject='watchdog', dependsOn=null,
        dashboard='overview', panel='Firing alerts',
        expr='vector(1)',
        summary='The alerting pipeline works (always firing).',
        description='Always firing, so that an external dead man\'s switch notices when Prometheus, Alertmanager or the network between them and it stops: it receives this alert every %s and alarms when it does not.' % c.watchdogRepeat,
      ),
      lib.alert(
        'TargetDown', 'warning', subject='target-up', dependsOn=null, forDuration=c.targetDownFor,
        dashboard='overview', panel='Firing alerts',
        // The exporter's own job has its own alerts (AncloraExporterDown, ...TargetAbsent).
        expr='max by (job, instance) (up unless on (job) up{%(exporterSelector)s}) == 0' % c,
        summary='Prometheus cannot scrape {{ $labels.job }}.',
        description='Target {{ $labels.instance }} of job {{ $labels.job }} has been down for %s: its metrics and the alerts built on them are missing.' % c.targetDownFor,
      ),
      lib.alert(
        'PrometheusRuleEvaluationFailures', 'critical', subject='prometheus-rules', dependsOn=null, forDuration=c.ruleFailuresFor,
        dashboard='overview', panel='Firing alerts',
        expr='sum by (instance, rule_group) (increase(prometheus_rule_evaluation_failures_total{%(prometheusSelector)s}[%(rateWindow)s])) > 0' % c,
        summary='Prometheus fails to evaluate rules of {{ $labels.rule_group }}.',
        description='{{ printf "%%.0f" $value }} evaluations of rule group {{ $labels.rule_group }} failed in the last %s on {{ $labels.instance }}: its alerts may never fire.' % c.rateWindow,
      ),
      lib.alert(
        'AlertmanagerNotificationsFailing', 'warning', subject='alertmanager-notifications', dependsOn=null, forDuration=c.notificationFailuresFor,
        dashboard='overview', panel='Firing alerts',
        expr=|||
          sum by (instance, integration) (rate(alertmanager_notifications_failed_total{%(alertmanagerSelector)s}[%(rateWindow)s]))
          /
          sum by (instance, integration) (rate(alertmanager_notifications_total{%(alertmanagerSelector)s}[%(rateWindow)s]))
          > %(notificationFailureRatio)g
        ||| % c,
        summary='Alertmanager fails to send {{ $labels.integration }} notifications.',
        description='{{ $value | humanizePercentage }} of {{ $labels.integration }} notifications from {{ $labels.instance }} failed in the last %s (threshold %g%%).' % [c.rateWindow, c.notificationFailureRatio * 100],
      ),
    ])],
  },
}
