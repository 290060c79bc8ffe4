// Overview: the few numbers on-call looks at first, and a way to every other dashboard.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: c.exporterSelector },
    local titles = {
      queue: 'Queue', bullmq: 'BullMQ', analytics: 'Analytics', whatsapp: 'WhatsApp API', redis: 'Redis',
      system: 'System and runtime', business: 'Bot and business', errors: 'Errors and resilience', logs: 'Logs',
    },
    local upDown = [[null, 'red'], [1, 'green']],

    overview: g.dashboard(c, 'overview', 'Anclora / Overview', panels=[
      g.stat('Exporter up', 'short', thresholds=upDown, targets=[g.target('sum(up{%(exporterSelector)s})' % c)],
             description="Exporter replicas Prometheus scrapes successfully (Prometheus' up); AncloraExporterDown pages after %s at 0, AncloraExporterTargetAbsent when Prometheus has no exporter target at all, AppEventsStopped when the exporter is up but no app event arrived in %s." % [c.exporterDownFor, c.appEventsStoppedWindow]),
      g.stat('Redis up', 'bool_yes_no', description='Whether the anclora exporter reached Redis at its last scrape; RedisDown pages after %s without it.' % c.redisDownFor, thresholds=upDown, targets=[g.target('max(%(ns)s_exporter_redis_up{%(sel)s})' % v)]),
      g.stat('WhatsApp instances', 'short', description='WhatsApp instances (numbers/sessions) connected, reported by the app; NoActiveInstances pages after %s below 1.' % c.noInstancesFor, thresholds=upDown, targets=[g.target('max(%(ns)s_whatsapp_active_instances{%(sel)s})' % v)]),
      g.stat('Messages waiting', 'short', description="Messages waiting over all queues, read from BullMQ's keys in Redis; the backlog alerts fire per queue above %d (warning, for %s) and %d (critical, for %s)." % [c.queueBacklogWarning, c.queueBacklogWarningFor, c.queueBacklogCritical, c.queueBacklogCriticalFor], thresholds=[[null, 'green'], [c.queueBacklogWarning, 'yellow'], [c.queueBacklogCritical, 'red']],
             targets=[g.target('sum(%s)' % queries.queueWaiting(c))]),
      g.stat('Queue error rate', 'percentunit', description="Failed / (processed + failed) over all queues, from BullMQ's events streams or app events; 0 when nothing failed, empty when nothing ran. The error-rate alerts fire per queue above %g%% and %g%%." % [c.queueErrorRatioWarning * 100, c.queueErrorRatioCritical * 100], thresholds=[[null, 'green'], [c.queueErrorRatioWarning, 'yellow'], [c.queueErrorRatioCritical, 'red']], targets=[
        // 0% when nothing failed (no failed series yet), no value when nothing ran.
        g.target(|||
          (sum(rate(%(ns)s_queue_messages_failed_total{%(sel)s}[$__rate_interval])) or vector(0))
          /
          ((sum(rate(%(ns)s_queue_messages_processed_total{%(sel)s}[$__rate_interval])) or vector(0))
            + (sum(rate(%(ns)s_queue_messages_failed_total{%(sel)s}[$__rate_interval])) or vector(0)) > 0)
        ||| % v),
      ]),
      g.stat('Delivery rate today', 'percentunit', description='Delivered / sent messages since midnight, reported by the app as events; the delivery alerts fire below %g%% (warning) and %g%% (critical) over %s.' % [c.deliveryRatioWarning * 100, c.deliveryRatioCritical * 100, c.rateWindow], timeFrom='now/d', thresholds=[[null, 'red'], [c.deliveryRatioCritical, 'yellow'], [c.deliveryRatioWarning, 'green']], targets=[
        g.target('sum(increase(%(ns)s_analytics_messages_delivered_total{%(sel)s}[$__range])) / sum(increase(%(ns)s_analytics_messages_sent_total{%(sel)s}[$__range]))' % v, instant=true),
      ]),
      g.stat('WhatsApp API p95', 's', description='95th percentile of WhatsApp API call latency (seconds), reported by the app; HighWhatsAppAPILatency warns above %gs for %s.' % [c.whatsappLatencyWarningSeconds, c.whatsappLatencyWarningFor], thresholds=[[null, 'green'], [c.whatsappLatencyWarningSeconds, 'red']], targets=[
        g.target(queries.histogramQuantile(c, 0.95, 'whatsapp_api_latency_seconds', v.sel)),
      ]),
      g.stat('Critical errors (1h)', 'short', description='Errors of severity %s the app logged in the last hour (count); CriticalErrorLogged pages on the first one.' % std.strReplace(c.criticalErrorSeverities, '|', ' or '), thresholds=[[null, 'green'], [1, 'red']], targets=[
        g.target('sum(increase(%(ns)s_errors_total{%(sel)s, severity=~"%(criticalErrorSeverities)s"}[1h])) or vector(0)' % v),
      ]),
      g.timeseries('Firing alerts', 'short', stack=true, w=24, targets=[
        g.target('sum by (severity) (ALERTS{alertstate="firing", category!=""})', '{{severity}}'),
      ], description="Alerts of this bundle firing now, by severity, from Prometheus' ALERTS series. Watchdog always fires (the dead man's switch: its silence is the alarm); TargetDown, PrometheusRuleEvaluationFailures and AlertmanagerNotificationsFailing watch the monitoring stack itself."),
      g.text('Dashboards', std.join('\n', [
        '- [%s](/d/%s)' % [titles[k], c.dashboardUids[k]]
        for k in ['queue', 'bullmq', 'analytics', 'whatsapp', 'redis', 'system', 'business', 'errors', 'logs']
      ]), description='Links to the other Anclora dashboards; each also lists the others under "Anclora dashboards" at the top.'),
    ]),
  },
}
