// Labels Alertmanager's inhibition reads (alertmanager/alertmanager.yml), one row per alert:
//   subject     what the alert is about; a critical mutes the warning/info alerts of the
//               same subject (and queue/instance), e.g. CriticalQueueLatency mutes
//               HighQueueLatency. One alert per (category, subject, severity).
//   depends_on  whose data the alert reads: `exporter` (app events, the exporter's own
//               collectors) or `redis` (BullMQ state read from Redis). While the exporter
//               is down (subject exporter-up) or Redis is (redis-up), these are muted.
// mixin.libsonnet applies the table to every alert and fails the build on a missing row.
{
  CriticalQueueLatency: { subject: 'queue-latency', depends_on: 'redis' },
  HighQueueLatency: { subject: 'queue-latency', depends_on: 'redis' },
  CriticalQueueBacklog: { subject: 'queue-backlog', depends_on: 'redis' },
  HighQueueBacklog: { subject: 'queue-backlog', depends_on: 'redis' },
  CriticalQueueErrorRate: { subject: 'queue-error-rate', depends_on: 'redis' },
  HighQueueErrorRate: { subject: 'queue-error-rate', depends_on: 'redis' },
  QueueProcessingStopped: { subject: 'queue-stopped', depends_on: 'redis' },
  HighDLQMessages: { subject: 'queue-dlq', depends_on: 'redis' },
  QueuePausedWithWaitingJobs: { subject: 'queue-paused', depends_on: 'redis' },
  QueueErrorBudgetBurnFast: { subject: 'queue-error-budget', depends_on: 'redis' },
  QueueErrorBudgetBurnSlow: { subject: 'queue-error-budget', depends_on: 'redis' },

  CriticalDeliveryRate: { subject: 'delivery-rate', depends_on: 'exporter' },
  LowDeliveryRate: { subject: 'delivery-rate', depends_on: 'exporter' },
  HighResponseTime: { subject: 'response-time', depends_on: 'exporter' },
  HighHandoffRate: { subject: 'handoff-rate', depends_on: 'exporter' },

  NoActiveInstances: { subject: 'whatsapp-instances', depends_on: 'exporter' },
  HighWhatsAppAPILatency: { subject: 'whatsapp-api-latency', depends_on: 'exporter' },
  WhatsAppAPIErrors: { subject: 'whatsapp-api-errors', depends_on: 'exporter' },
  WhatsAppRateLimitHit: { subject: 'whatsapp-rate-limit', depends_on: 'exporter' },
  WhatsAppAPIErrorBudgetBurnFast: { subject: 'whatsapp-error-budget', depends_on: 'exporter' },
  WhatsAppAPIErrorBudgetBurnSlow: { subject: 'whatsapp-error-budget', depends_on: 'exporter' },

  HighRedisLatency: { subject: 'redis-latency', depends_on: 'exporter' },
  RedisConnectionPoolExhausted: { subject: 'redis-pool', depends_on: 'exporter' },
  // The source of the redis-up inhibition; itself muted while the exporter is down.
  RedisDown: { subject: 'redis-up', depends_on: 'exporter' },

  CriticalMemoryUsage: { subject: 'app-memory', depends_on: 'exporter' },
  HighMemoryUsage: { subject: 'app-memory', depends_on: 'exporter' },
  HighEventLoopLag: { subject: 'app-event-loop', depends_on: 'exporter' },
  HighCPUUsage: { subject: 'host-cpu', depends_on: 'exporter' },
  DiskWillFillIn24Hours: { subject: 'host-disk', depends_on: 'exporter' },
  CriticalErrorLogged: { subject: 'critical-error', depends_on: 'exporter' },

  NoConversionsToday: { subject: 'conversions', depends_on: 'exporter' },
  LowLeadCaptureRate: { subject: 'lead-capture', depends_on: 'exporter' },
  HighValueSale: { subject: 'high-value-sale', depends_on: 'exporter' },

  // The source of the exporter-up inhibition: depends on nothing.
  AncloraExporterDown: { subject: 'exporter-up' },
  AncloraExporterTargetAbsent: { subject: 'exporter-target' },
  ExporterEventsRejected: { subject: 'events-rejected', depends_on: 'exporter' },
  ExporterStreamLagGrowing: { subject: 'stream-lag', depends_on: 'exporter' },
}
