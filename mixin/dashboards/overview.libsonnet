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
             description='Exporter replicas Prometheus scrapes successfully.'),
      g.stat('Redis up', 'bool_yes_no', thresholds=upDown, targets=[g.target('max(%(ns)s_exporter_redis_up{%(sel)s})' % v)]),
      g.stat('WhatsApp instances', 'short', thresholds=upDown, targets=[g.target('max(%(ns)s_whatsapp_active_instances{%(sel)s})' % v)]),
      g.stat('Messages waiting', 'short', thresholds=[[null, 'green'], [c.queueBacklogWarning, 'yellow'], [c.queueBacklogCritical, 'red']],
             targets=[g.target('sum(%s)' % queries.queueWaiting(c))]),
      g.stat('Queue error rate', 'percentunit', thresholds=[[null, 'green'], [c.queueErrorRatioWarning, 'yellow'], [c.queueErrorRatioCritical, 'red']], targets=[
        // 0% when nothing failed (no failed series yet), no value when nothing ran.
        g.target(|||
          (sum(rate(%(ns)s_queue_messages_failed_total{%(sel)s}[$__rate_interval])) or vector(0))
          /
          ((sum(rate(%(ns)s_queue_messages_processed_total{%(sel)s}[$__rate_interval])) or vector(0))
            + (sum(rate(%(ns)s_queue_messages_failed_total{%(sel)s}[$__rate_interval])) or vector(0)) > 0)
        ||| % v),
      ]),
      g.stat('Delivery rate today', 'percentunit', timeFrom='now/d', thresholds=[[null, 'red'], [c.deliveryRatioCritical, 'yellow'], [c.deliveryRatioWarning, 'green']], targets=[
        g.target('sum(increase(%(ns)s_analytics_messages_delivered_total{%(sel)s}[$__range])) / sum(increase(%(ns)s_analytics_messages_sent_total{%(sel)s}[$__range]))' % v, instant=true),
      ]),
      g.stat('WhatsApp API p95', 's', thresholds=[[null, 'green'], [c.whatsappLatencyWarningSeconds, 'red']], targets=[
        g.target(queries.histogramQuantile(c, 0.95, 'whatsapp_api_latency_seconds', v.sel)),
      ]),
      g.stat('Critical errors (1h)', 'short', thresholds=[[null, 'green'], [1, 'red']], targets=[
        g.target('sum(increase(%(ns)s_errors_total{%(sel)s, severity=~"%(criticalErrorSeverities)s"}[1h])) or vector(0)' % v),
      ]),
      g.timeseries('Firing alerts', 'short', stack=true, w=24, targets=[
        g.target('sum by (severity) (ALERTS{alertstate="firing", category!=""})', '{{severity}}'),
      ], description='Alerts of this bundle firing now, by severity.'),
      g.text('Dashboards', std.join('\n', [
        '- [%s](/d/%s)' % [titles[k], c.dashboardUids[k]]
        for k in ['queue', 'bullmq', 'analytics', 'whatsapp', 'redis', 'system', 'business', 'errors', 'logs']
      ])),
    ]),
  },
}
