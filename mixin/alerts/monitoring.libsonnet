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
    ])],
  },
}
