// System and runtime: the host (psutil in the exporter, node_exporter when it runs),
// the app's heap and event loop, and the exporter process itself.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },
    local n = c { sel: c.nodeExporterSelector },

    system: g.dashboard(c, 'system', 'Anclora / System and runtime', variables=[
      g.instanceVariable(c),
      g.queryVariable('service', 'Service', 'label_values(%(ns)s_app_heap_used_bytes{%(exporterSelector)s}, service)' % c),
    ], panels=[
      g.timeseries('Host CPU', 'percentunit', targets=[
        g.target('max by (instance) (%(ns)s_system_cpu_usage_ratio{%(sel)s})' % v, '{{instance}} (psutil)'),
        g.target('1 - avg by (instance) (rate(node_cpu_seconds_total{%(sel)s, mode="idle"}[$__rate_interval]))' % n, '{{instance}} (node_exporter)'),
      ], description='Host CPU in use (0-100 %%), from psutil in the anclora exporter and from node-exporter where it runs; HighCPUUsage warns on the psutil figure above %g%% for %s.' % [c.cpuWarningRatio * 100, c.cpuWarningFor]),
      g.timeseries('Host memory available', 'bytes', description='Host memory available to new work and total host memory (bytes), from psutil in the anclora exporter.', targets=[
        g.target('max by (instance) (%(ns)s_system_memory_available_bytes{%(sel)s})' % v, '{{instance}} available'),
        g.target('max by (instance) (%(ns)s_system_memory_total_bytes{%(sel)s})' % v, '{{instance}} total'),
      ]),
      g.timeseries('Disk free', 'percentunit', description='Free share of each filesystem (0-100 %%), from psutil in the anclora exporter; DiskSpaceLow warns above %g%% used for %s, DiskSpaceCritical pages above %g%% used for %s, DiskWillFillIn24Hours warns below %g%% free when the %s trend runs out within %dh.' % [c.diskUsageWarningRatio * 100, c.diskUsageWarningFor, c.diskUsageCriticalRatio * 100, c.diskUsageCriticalFor, c.diskFreeRatioWarning * 100, c.diskPredictWindow, c.diskPredictHours], targets=[
        g.target('max by (instance, mountpoint) (%(ns)s_system_disk_free_bytes{%(sel)s}) / max by (instance, mountpoint) (%(ns)s_system_disk_total_bytes{%(sel)s})' % v, '{{instance}} {{mountpoint}}'),
      ]),
      g.timeseries('Load average', 'short', description='Host 1-minute load average, from psutil in the anclora exporter; compare with the number of cores.', targets=[
        g.target('max by (instance) (%(ns)s_system_load1{%(sel)s})' % v, '{{instance}} load1'),
      ]),
      g.timeseries('App heap used', 'bytes', targets=[
        g.target('max by (service) (%(ns)s_app_heap_used_bytes{%(exporterSelector)s, service=~"$service"})' % c, '{{service}} used'),
        g.target('max by (service) (%(ns)s_app_heap_total_bytes{%(exporterSelector)s, service=~"$service"})' % c, '{{service}} reserved'),
      ], description='Heap used and reserved by each app process (bytes), reported by the app; HighMemoryUsage warns above %d MiB for %s, CriticalMemoryUsage pages above %d MiB for %s.' % [c.heapWarningBytes / 1048576, c.heapWarningFor, c.heapCriticalBytes / 1048576, c.heapCriticalFor]),
      g.timeseries('App event-loop lag', 's', description='Event-loop lag of each app process (seconds), reported by the app; HighEventLoopLag warns above %gs for %s.' % [c.eventLoopLagWarningSeconds, c.eventLoopLagWarningFor], targets=[
        g.target('max by (service) (%(ns)s_app_event_loop_lag_seconds{%(exporterSelector)s, service=~"$service"})' % c, '{{service}}'),
      ]),
      g.timeseries('Exporter process', 'bytes', description="Resident memory (bytes) of each exporter process, from the exporter's own process collector (client_python).", targets=[
        g.target('max by (instance) (process_resident_memory_bytes{%(sel)s})' % v, '{{instance}} RSS'),
      ]),
      g.timeseries('Exporter collectors', 's', targets=[
        g.target('max by (collector) (%(ns)s_exporter_scrape_collector_duration_seconds{%(sel)s})' % v, '{{collector}}'),
        g.target('max by (instance) (%(ns)s_exporter_event_loop_lag_seconds{%(sel)s})' % v, '{{instance}} event-loop lag'),
      ], description="Time (seconds) each of the exporter's collectors took at the last scrape, and the exporter's own event-loop lag."),
    ]),
  },
}
