// BullMQ: each queue's state as read straight from Redis (jobs per state, the oldest
// waiting job, pauses), beside the user's Queue dashboard, which keeps its 10 panels.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector, 'queue=~"$queue"') },

    bullmq: g.dashboard(c, 'bullmq', 'Anclora / BullMQ', variables=[
      g.instanceVariable(c),
      g.queryVariable('queue', 'Queue', 'label_values(%(ns)s_bullmq_jobs{%(exporterSelector)s}, queue)' % c),
    ], panels=[
      g.stat('Queues watched', 'short', targets=[
        g.target('sum(%(ns)s_exporter_queue_up{%(sel)s})' % v),
      ], description="Queues whose BullMQ keys in Redis the exporter read at its last scrape (count)."),
      g.stat('Paused queues', 'short', thresholds=[[null, 'green'], [1, 'yellow']], targets=[
        g.target('count(%(ns)s_bullmq_queue_paused{%(sel)s} == 1) or vector(0)' % v),
      ], description="Queues paused in BullMQ (count), read from BullMQ's keys in Redis: their waiting jobs are not picked up; QueuePausedWithWaitingJobs warns when one stays paused with jobs waiting for %s." % c.queuePausedFor),
      g.stat('Oldest waiting job', 's', thresholds=[[null, 'green'], [c.queueOldestJobWarningSeconds, 'yellow']], targets=[
        g.target('max(%(ns)s_bullmq_oldest_waiting_job_age_seconds{%(sel)s})' % v),
      ], description="Age (seconds) of the oldest job still waiting over the selected queues, read from BullMQ's keys in Redis; yellow from %gs." % c.queueOldestJobWarningSeconds),
      g.stat('Failed jobs kept', 'short', targets=[
        g.target('sum(%(ns)s_bullmq_jobs{%(sel)s, state="failed"})' % v),
      ], description="Jobs in BullMQ's failed set (count, kept until removed), read from BullMQ's keys in Redis."),
      g.timeseries('Jobs by state', 'short', stack=true, targets=[
        g.target('sum by (state) (%(ns)s_bullmq_jobs{%(sel)s, state!~"completed|failed"})' % v, '{{state}}'),
      ], description="Jobs per BullMQ state (waiting, prioritized, delayed, active, paused, waiting-children) over the selected queues, stacked, read from BullMQ's keys in Redis."),
      g.timeseries('Oldest waiting job age', 's', targets=[
        g.target('max by (queue) (%(ns)s_bullmq_oldest_waiting_job_age_seconds{%(sel)s})' % v, '{{queue}}'),
      ], description="How long (seconds) the oldest waiting job of each queue has waited, read from BullMQ's keys in Redis; it grows while no worker takes jobs; QueueOldestJobTooOld warns above %gs for %s." % [c.queueOldestJobWarningSeconds, c.queueOldestJobFor]),
      g.timeseries('Paused', 'short', targets=[
        g.target('max by (queue) (%(ns)s_bullmq_queue_paused{%(sel)s})' % v, '{{queue}}'),
      ], description="1 while the queue is paused, 0 otherwise, read from BullMQ's keys in Redis."),
      g.timeseries('Stalled jobs', 'short', targets=[
        g.target('sum by (queue) (increase(%(ns)s_bullmq_events_read_total{%(sel)s, event="stalled"}[$__rate_interval])) or vector(0)' % v, '{{queue}}'),
      ], description="Jobs BullMQ found stalled (the worker lost its lock: it crashed or its event loop was blocked), from each queue's events stream; alert QueueJobsStalled above %d in 15m." % c.queueStalledJobsWarning),
      g.timeseries('Completed and failed kept', 'short', targets=[
        g.target('sum by (state) (%(ns)s_bullmq_jobs{%(sel)s, state=~"completed|failed"})' % v, '{{state}}'),
      ], description="Jobs kept in BullMQ's completed and failed sets (count, bounded by removeOnComplete / removeOnFail), read from BullMQ's keys in Redis."),
      g.timeseries('Workers', 'short', targets=[
        g.target('sum by (queue) (%(ns)s_bullmq_workers{%(sel)s})' % v, '{{queue}}'),
      ], description="Worker connections per queue in Redis's CLIENT LIST, as BullMQ's getWorkers() counts them (one per Node BullMQ worker, two per Python worker). 0 with jobs waiting: no consumer at all, not a slow one; alert QueueWithoutWorkers after %s." % c.queueNoWorkersFor),
      g.timeseries('Retries exhausted', 'short', targets=[
        g.target('sum by (queue) (increase(%(ns)s_bullmq_events_read_total{%(sel)s, event="retries-exhausted"}[$__rate_interval])) or vector(0)' % v, '{{queue}}'),
      ], description="Jobs that used their last attempt and failed for good (BullMQ's retries-exhausted event, from each queue's events stream); they land in the failed set or the dead-letter queue (alert HighDLQMessages)."),
    ]),
  },
}
