// Queue alerts: the SPEC matrix rows of group "queue" plus QueuePausedWithWaitingJobs,
// QueueOldestJobTooOld, QueueWithoutWorkers and QueueJobsStalled.
// A queue is the subject of each alert: everything is aggregated `by (queue)`.
local lib = import '../lib/alerts.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local q = '&var-queue={{ $labels.queue }}',

    local latency(name, severity, threshold, forDuration) = lib.alert(
      name, severity, subject='queue-latency', dependsOn='redis', forDuration=forDuration, dashboard='queue', panel='Processing latency p95', vars=q,
      expr=|||
        histogram_quantile(%(queueLatencyQuantile)g,
          sum by (queue, le) (rate(%(ns)s_queue_processing_duration_seconds_bucket{%(exporterSelector)s}[%(rateWindow)s]))
        ) > %(t)g
      ||| % (c { t: threshold }),
      summary='Queue {{ $labels.queue }} processes messages slowly.',
      description='p%g processing time of queue {{ $labels.queue }} is {{ $value | humanizeDuration }} (threshold %gs).' % [c.queueLatencyQuantile * 100, threshold],
    ),

    local backlog(name, severity, threshold, forDuration) = lib.alert(
      name, severity, subject='queue-backlog', dependsOn='redis', forDuration=forDuration, dashboard='queue', panel='Queue depth', vars=q,
      expr='%s > %d' % [queries.queueWaiting(c), threshold],
      summary='Queue {{ $labels.queue }} has a large backlog.',
      description='{{ $value | humanize }} messages wait in queue {{ $labels.queue }} (threshold %s).' % lib.thousands(threshold),
    ),

    local errors(name, severity, threshold, forDuration) = lib.alert(
      name, severity, subject='queue-error-rate', dependsOn='redis', forDuration=forDuration, dashboard='queue', panel='Error rate', vars=q,
      // The ratio only counts when the queue carries real traffic (minQueueRate).
      expr='(\n%s\n) > %g\nand on (queue)\n%s > %g' % [
        queries.queueErrorRatio(c, c.rateWindow), threshold,
        queries.queueFinishedRate(c, c.rateWindow), c.minQueueRate,
      ],
      summary='Queue {{ $labels.queue }} fails many messages.',
      description='{{ $value | humanizePercentage }} of the messages finished by queue {{ $labels.queue }} failed (threshold %g%%).' % (threshold * 100),
    ),

    groups+: [lib.group('queue', [
      latency('CriticalQueueLatency', 'critical', c.queueLatencyCriticalSeconds, c.queueLatencyCriticalFor),
      backlog('CriticalQueueBacklog', 'critical', c.queueBacklogCritical, c.queueBacklogCriticalFor),
      errors('CriticalQueueErrorRate', 'critical', c.queueErrorRatioCritical, c.queueErrorRatioCriticalFor),
      lib.alert(
        'QueueProcessingStopped', 'critical', subject='queue-stopped', dependsOn='redis', forDuration=c.queueStoppedFor,
        dashboard='queue', panel='Throughput', vars=q,
        // Nothing finished while messages wait. A paused queue has its own alert below.
        expr=|||
          %(waiting)s > 0
          unless on (queue) (%(finished)s > 0)
          unless on (queue) (max by (queue) (%(ns)s_bullmq_queue_paused{%(exporterSelector)s}) == 1)
        ||| % (c { waiting: queries.queueWaiting(c), finished: queries.queueFinishedRate(c, c.rateWindow) }),
        summary='Queue {{ $labels.queue }} has stopped processing.',
        description='{{ $value | humanize }} messages wait in queue {{ $labels.queue }} but none was processed or failed in the last %s.' % c.rateWindow,
      ),
      latency('HighQueueLatency', 'warning', c.queueLatencyWarningSeconds, c.queueLatencyWarningFor),
      backlog('HighQueueBacklog', 'warning', c.queueBacklogWarning, c.queueBacklogWarningFor),
      errors('HighQueueErrorRate', 'warning', c.queueErrorRatioWarning, c.queueErrorRatioWarningFor),
      lib.alert(
        'HighDLQMessages', 'warning', subject='queue-dlq', dependsOn='redis', forDuration=c.dlqWarningFor,
        dashboard='queue', panel='DLQ messages', vars=q,
        expr='max by (queue) (%(ns)s_queue_dlq_messages{%(exporterSelector)s}) > %(dlqWarning)d' % c,
        summary='Dead-letter queue of {{ $labels.queue }} is filling up.',
        description='{{ $value | humanize }} messages sit in the dead-letter queue of {{ $labels.queue }} (threshold %s).' % lib.thousands(c.dlqWarning),
      ),
      lib.alert(
        'QueuePausedWithWaitingJobs', 'warning', subject='queue-paused', dependsOn='redis', forDuration=c.queuePausedFor,
        dashboard='queue', panel='Queue depth', vars=q,
        // BullMQ 5 moves a paused queue's jobs to the `paused` state, 6 keeps them `waiting`.
        expr=|||
          sum by (queue) (max by (queue, state) (%(ns)s_bullmq_jobs{%(exporterSelector)s, state=~"waiting|paused|prioritized"})) > 0
          and on (queue) (max by (queue) (%(ns)s_bullmq_queue_paused{%(exporterSelector)s}) == 1)
        ||| % c,
        summary='Queue {{ $labels.queue }} is paused while jobs wait.',
        description='Queue {{ $labels.queue }} has been paused for more than %s with {{ $value | humanize }} jobs waiting.' % c.queuePausedFor,
      ),
      lib.alert(
        'QueueOldestJobTooOld', 'warning', subject='queue-oldest-job', dependsOn='redis', forDuration=c.queueOldestJobFor,
        dashboard='bullmq', panel='Oldest waiting job age', vars=q,
        // A paused queue has its own alert (QueuePausedWithWaitingJobs).
        expr=|||
          max by (queue) (%(ns)s_bullmq_oldest_waiting_job_age_seconds{%(exporterSelector)s}) > %(queueOldestJobWarningSeconds)g
          unless on (queue) (max by (queue) (%(ns)s_bullmq_queue_paused{%(exporterSelector)s}) == 1)
        ||| % c,
        summary='The oldest job of queue {{ $labels.queue }} has waited too long.',
        description='The oldest waiting job of queue {{ $labels.queue }} has waited {{ $value | humanizeDuration }} (threshold %gs): no worker takes jobs, or too few do.' % c.queueOldestJobWarningSeconds,
      ),
      lib.alert(
        'QueueWithoutWorkers', 'critical', subject='queue-workers', dependsOn='redis', forDuration=c.queueNoWorkersFor,
        dashboard='bullmq', panel='Workers', vars=q,
        // Absent worker counts (a Redis refusing CLIENT LIST) keep it silent; a paused
        // queue has its own alert.
        expr=|||
          sum by (queue) (max by (queue, state) (%(ns)s_bullmq_jobs{%(exporterSelector)s, state=~"waiting|prioritized"})) > 0
          and on (queue) (max by (queue) (%(ns)s_bullmq_workers{%(exporterSelector)s}) == 0)
          unless on (queue) (max by (queue) (%(ns)s_bullmq_queue_paused{%(exporterSelector)s}) == 1)
        ||| % c,
        summary='No worker takes the jobs of queue {{ $labels.queue }}.',
        description='{{ $value | humanize }} jobs wait in queue {{ $labels.queue }} and no BullMQ worker has been connected to it for %s: messages are not being sent.' % c.queueNoWorkersFor,
      ),
      lib.alert(
        'QueueJobsStalled', 'warning', subject='queue-stalled', dependsOn='redis', forDuration=c.queueStalledFor,
        dashboard='bullmq', panel='Stalled jobs', vars=q,
        expr=|||
          sum by (queue) (increase(%(ns)s_bullmq_events_read_total{%(exporterSelector)s, event="stalled"}[15m])) > %(queueStalledJobsWarning)d
        ||| % c,
        summary='Jobs of queue {{ $labels.queue }} stalled.',
        description='{{ $value | humanize }} jobs of queue {{ $labels.queue }} stalled in 15m: a worker lost its lock (it crashed, or its event loop was blocked) and BullMQ moved the job back.',
      ),
    ])],
  },
}
