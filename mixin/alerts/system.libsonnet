// System and runtime alerts (SPEC matrix group "system") plus DiskWillFillIn24Hours, the
// disk usage alerts (from node-exporter) and CriticalErrorLogged. The app reports heap and event-loop lag per `service`; host CPU and
// disk come from psutil in each exporter, so their subject is the exporter's `instance`.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local s = '&var-service={{ $labels.service }}',

    local heap(name, severity, threshold, forDuration) = lib.alert(
      name, severity, subject='app-memory', dependsOn='exporter', forDuration=forDuration, dashboard='system', panel='App heap used', vars=s,
      expr='max by (service) (%(ns)s_app_heap_used_bytes{%(exporterSelector)s}) > %(t)d' % (c { t: threshold }),
      summary='{{ $labels.service }} uses a lot of heap memory.',
      description='Heap in use by {{ $labels.service }} is {{ $value | humanize1024 }}B (threshold %dMiB).' % (threshold / 1024 / 1024),
    ),

    // Used share of a filesystem, from node-exporter; read-only filesystems are left out.
    // depends_on is unset: node-exporter, not the exporter, reports it.
    local diskUsage(name, severity, ratio, forDuration) = lib.alert(
      name, severity, subject='host-disk-usage', dependsOn=null, forDuration=forDuration,
      dashboard='system', panel='Disk free',
      expr=|||
        max by (instance, mountpoint) (
          1 - node_filesystem_avail_bytes{%(nodeExporterSelector)s, %(nodeFsSelector)s}
              / node_filesystem_size_bytes{%(nodeExporterSelector)s, %(nodeFsSelector)s}
          unless on (instance, device, mountpoint)
          node_filesystem_readonly{%(nodeExporterSelector)s, %(nodeFsSelector)s} == 1
        ) > %(ratio)g
      ||| % (c { ratio: ratio }),
      summary='Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is almost full.',
      description='{{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full (threshold %g%%).' % (ratio * 100),
    ),

    groups+: [lib.group('system', [
      heap('CriticalMemoryUsage', 'critical', c.heapCriticalBytes, c.heapCriticalFor),
      heap('HighMemoryUsage', 'warning', c.heapWarningBytes, c.heapWarningFor),
      lib.alert(
        'HighEventLoopLag', 'warning', subject='app-event-loop', dependsOn='exporter', forDuration=c.eventLoopLagWarningFor,
        dashboard='system', panel='App event-loop lag', vars=s,
        expr='max by (service) (%(ns)s_app_event_loop_lag_seconds{%(exporterSelector)s}) > %(eventLoopLagWarningSeconds)g' % c,
        summary='The event loop of {{ $labels.service }} lags.',
        description='Event-loop lag of {{ $labels.service }} is {{ $value | humanizeDuration }} (threshold %gs).' % c.eventLoopLagWarningSeconds,
      ),
      lib.alert(
        'HighCPUUsage', 'warning', subject='host-cpu', dependsOn='exporter', forDuration=c.cpuWarningFor,
        dashboard='system', panel='Host CPU',
        expr='max by (instance) (%(ns)s_system_cpu_usage_ratio{%(exporterSelector)s}) > %(cpuWarningRatio)g' % c,
        summary='Host CPU is busy.',
        description='CPU use on the host of {{ $labels.instance }} is {{ $value | humanizePercentage }} (threshold %g%%).' % (c.cpuWarningRatio * 100),
      ),
      lib.alert(
        'DiskWillFillIn24Hours', 'warning', subject='host-disk', dependsOn='exporter', forDuration=c.diskFillingFor,
        dashboard='system', panel='Disk free',
        // node-mixin's rule: little space left AND the 6h trend runs out within a day.
        expr=|||
          (
            max by (instance, mountpoint) (%(ns)s_system_disk_free_bytes{%(exporterSelector)s})
            /
            max by (instance, mountpoint) (%(ns)s_system_disk_total_bytes{%(exporterSelector)s})
          ) < %(diskFreeRatioWarning)g
          and on (instance, mountpoint)
          max by (instance, mountpoint) (predict_linear(%(ns)s_system_disk_free_bytes{%(exporterSelector)s}[%(diskPredictWindow)s], %(diskPredictHours)d * 3600)) < 0
        ||| % c,
        summary='Disk {{ $labels.mountpoint }} on {{ $labels.instance }} fills up.',
        description='Only {{ $value | humanizePercentage }} of {{ $labels.mountpoint }} on {{ $labels.instance }} is free and at the rate of the last %s it is full within %d hours.' % [c.diskPredictWindow, c.diskPredictHours],
      ),
      diskUsage('DiskSpaceCritical', 'critical', c.diskUsageCriticalRatio, c.diskUsageCriticalFor),
      diskUsage('DiskSpaceLow', 'warning', c.diskUsageWarningRatio, c.diskUsageWarningFor),
      lib.alert(
        'CriticalErrorLogged', 'critical', subject='critical-error', dependsOn='exporter',
        dashboard='errors', panel='Errors by severity', vars=s,
        // Fires at once. increase() cannot see a counter series' first value, and the
        // exporter creates a series with its first error, so a series that did not exist
        // one window ago counts as new errors too.
        expr=|||
          sum by (service) (increase(%(ns)s_errors_total{%(exporterSelector)s, severity=~"%(criticalErrorSeverities)s"}[%(criticalErrorWindow)s])) > 0
          or
          (
            sum by (service) (%(ns)s_errors_total{%(exporterSelector)s, severity=~"%(criticalErrorSeverities)s"})
            unless
            sum by (service) (%(ns)s_errors_total{%(exporterSelector)s, severity=~"%(criticalErrorSeverities)s"} offset %(criticalErrorWindow)s)
          )
        ||| % c,
        summary='{{ $labels.service }} logged a critical error.',
        description='{{ $labels.service }} logged {{ printf "%%.0f" $value }} fatal or critical errors in the last %s.' % c.criticalErrorWindow,
      ),
    ])],
  },
}
