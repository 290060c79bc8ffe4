// Queue: exactly the user's 10 panels (SPEC.md), refreshed every 10s.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector, 'queue=~"$queue"') },
    local msgs = 'suffix: msg/s',

    queue: g.dashboard(c, 'queue', 'Anclora / Queue', refresh='10s', variables=[
      g.instanceVariable(c),
      g.queryVariable('queue', 'Queue', 'label_values(%(ns)s_queue_waiting_messages{%(exporterSelector)s}, queue)' % c),
    ], panels=[
      g.timeseries('Throughput', msgs, targets=[
        g.target('sum by (queue) (rate(%(ns)s_queue_messages_total{%(sel)s}[$__rate_interval]))' % v, '{{queue}} enqueued'),
        g.target('sum by (queue) (rate(%(ns)s_queue_messages_processed_total{%(sel)s}[$__rate_interval]))' % v, '{{queue}} processed'),
      ], description="Messages added to and processed by each queue per second, from BullMQ's events streams or app events; QueueProcessingStopped pages when messages wait and none finishes for %s." % c.queueStoppedFor),
      g.timeseries('Processing latency p95', 's', targets=[
        g.target(queries.histogramQuantile(c, 0.95, 'queue_processing_duration_seconds', v.sel, ['queue']), '{{queue}} p95'),
        g.target(queries.histogramQuantile(c, 0.99, 'queue_processing_duration_seconds', v.sel, ['queue']), '{{queue}} p99'),
      ], description="95th and 99th percentile of processing time (seconds), from BullMQ's events streams or app events; HighQueueLatency and CriticalQueueLatency fire on the p%g above %gs (warning, for %s) and %gs (critical, for %s)." % [c.queueLatencyQuantile * 100, c.queueLatencyWarningSeconds, c.queueLatencyWarningFor, c.queueLatencyCriticalSeconds, c.queueLatencyCriticalFor]),
      // Every replica reads the same Redis keys: max across replicas, then sum.
      g.timeseries('Queue depth', 'short', targets=[
        g.target('sum by (queue) (max by (queue, priority) (%(ns)s_queue_waiting_messages{%(sel)s}))' % v, '{{queue}} waiting'),
        g.target('max by (queue) (%(ns)s_queue_active_messages{%(sel)s})' % v, '{{queue}} active'),
        g.target('max by (queue) (%(ns)s_queue_dlq_messages{%(sel)s})' % v, '{{queue}} DLQ'),
      ], description="Messages waiting, being processed and dead-lettered per queue, read from BullMQ's keys in Redis; HighQueueBacklog and CriticalQueueBacklog fire above %d (warning, for %s) and %d (critical, for %s) waiting; QueuePausedWithWaitingJobs warns when a paused queue keeps jobs waiting for %s." % [c.queueBacklogWarning, c.queueBacklogWarningFor, c.queueBacklogCritical, c.queueBacklogCriticalFor, c.queuePausedFor]),
      g.timeseries('Success vs failed', msgs, description="Messages processed and failed per second over the selected queues, stacked, from BullMQ's events streams or app events; QueueErrorBudgetBurnFast (page) and QueueErrorBudgetBurnSlow (ticket) fire when failures spend the queue's error budget too fast (docs/runbooks.md).", stack=true, targets=[
        g.target('sum(rate(%(ns)s_queue_messages_processed_total{%(sel)s}[$__rate_interval]))' % v, 'processed'),
        g.target('sum(rate(%(ns)s_queue_messages_failed_total{%(sel)s}[$__rate_interval]))' % v, 'failed'),
      ]),
      g.timeseries('Error rate', 'percentunit', targets=[
        g.target(queries.queueErrorRatio(v { exporterSelector: v.sel }, '$__rate_interval'), '{{queue}}'),
      ], description="Failed / (processed + failed) per queue, from BullMQ's events streams or app events; HighQueueErrorRate and CriticalQueueErrorRate fire above %g%% (warning, for %s) and %g%% (critical, for %s)." % [c.queueErrorRatioWarning * 100, c.queueErrorRatioWarningFor, c.queueErrorRatioCritical * 100, c.queueErrorRatioCriticalFor]),
      g.heatmap('Processing duration', g.target('sum by (le) (increase(%(ns)s_queue_processing_duration_seconds_bucket{%(sel)s}[$__rate_interval]))' % v), 's', description="Distribution of processing time (seconds; one row per histogram bucket, messages per interval), from BullMQ's events streams or app events."),
      g.stat('Bulk operations', 'short', targets=[
        g.target('sum(increase(%(ns)s_queue_bulk_operations_total{%(sel)s}[$__range]))' % v, instant=true),
      ], description='Bulk enqueue operations in the dashboard time range (count), reported by the app as events.'),
      g.stat('DLQ messages', 'short', description="Messages dead-lettered (the failed set when no DLQ queue is configured), read from BullMQ's keys in Redis; HighDLQMessages warns above %d on a queue for %s." % [c.dlqWarning, c.dlqWarningFor], thresholds=[[null, 'green'], [1, 'yellow'], [c.dlqWarning, 'red']], targets=[
        g.target('sum(max by (queue) (%(ns)s_queue_dlq_messages{%(sel)s}))' % v),
      ]),
      g.stat('Average processing time', 's', description="Mean processing time over the dashboard time range (seconds), from BullMQ's events streams or app events.", targets=[
        g.target('sum(rate(%(ns)s_queue_processing_duration_seconds_sum{%(sel)s}[$__range])) / sum(rate(%(ns)s_queue_processing_duration_seconds_count{%(sel)s}[$__range]))' % v, instant=true),
      ]),
      g.stat('Total messages today', 'short', description="Messages added to the selected queues since midnight, from BullMQ's events streams or app events.", timeFrom='now/d', targets=[
        g.target('sum(increase(%(ns)s_queue_messages_total{%(sel)s}[$__range]))' % v, instant=true),
      ]),
    ]),
  },
}
