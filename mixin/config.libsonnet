// Everything tunable in the mixin: selectors, thresholds, durations, SLOs, uids, URLs.
// mixin.libsonnet merges this file last, so an importer overrides any key with
//   (import 'mixin/mixin.libsonnet') + { _config+:: { queueBacklogCritical: 100000 } }
// Expressions only ever use these keys; they never carry a literal job name or threshold.
{
  _config+:: {
    // Metric prefix (the exporter's ANCLORA_NAMESPACE).
    ns: 'anclora',

    // Prometheus job selectors of the stack's scrape jobs.
    exporterSelector: 'job="anclora-exporter"',
    nodeExporterSelector: 'job="node-exporter"',
    redisExporterSelector: 'job="redis-exporter"',
    prometheusSelector: 'job="prometheus"',
    alertmanagerSelector: 'job="alertmanager"',

    // Window of rate()/increase() in alerts; 4x the stack's 15s scrape interval at least.
    rateWindow: '5m',

    // Below this many finished messages (or sent messages) per second a ratio is noise:
    // one failure out of two messages is not a 50% error rate worth waking anyone for.
    minQueueRate: 0.01,
    minSentRate: 0.01,

    // --- queue (SPEC alert matrix) ---
    queueLatencyQuantile: 0.99,
    queueLatencyCriticalSeconds: 1,
    queueLatencyCriticalFor: '2m',
    queueLatencyWarningSeconds: 0.5,
    queueLatencyWarningFor: '5m',
    queueBacklogCritical: 50000,
    queueBacklogCriticalFor: '5m',
    queueBacklogWarning: 10000,
    queueBacklogWarningFor: '10m',
    queueErrorRatioCritical: 0.05,
    queueErrorRatioCriticalFor: '2m',
    queueErrorRatioWarning: 0.01,
    queueErrorRatioWarningFor: '5m',
    queueStoppedFor: '5m',
    dlqWarning: 1000,
    dlqWarningFor: '15m',
    // extra: a paused queue with jobs waiting
    queuePausedFor: '15m',
    // The oldest waiting job older than this: no worker takes jobs, or too few do.
    queueOldestJobWarningSeconds: 600,
    queueOldestJobFor: '5m',
    // Jobs stalled (a worker lost its lock: crashed, or its event loop blocked) in 15m.
    queueStalledJobsWarning: 0,
    queueStalledFor: '1m',
    // Jobs waiting and no BullMQ worker connected to the queue (CLIENT LIST) for this long.
    queueNoWorkersFor: '5m',

    // --- analytics ---
    deliveryRatioCritical: 0.5,
    deliveryRatioCriticalFor: '5m',
    deliveryRatioWarning: 0.8,
    deliveryRatioWarningFor: '10m',
    responseTimeQuantile: 0.95,
    responseTimeWarningSeconds: 300,
    responseTimeWarningFor: '10m',
    handoffRateInfo: 0.5,  // handoffs per second
    handoffRateInfoFor: '15m',

    // --- whatsapp ---
    noInstancesFor: '2m',
    whatsappLatencyQuantile: 0.95,
    whatsappLatencyWarningSeconds: 2,
    whatsappLatencyWarningFor: '5m',
    whatsappServerErrorStatus: '5..',  // status_code regex counted as API errors
    whatsappErrorRateWarning: 0.1,  // 5xx responses per second
    whatsappErrorRateWarningFor: '5m',
    whatsappRateLimitWarning: 1,  // rate-limit hits per second
    whatsappRateLimitWarningFor: '5m',

    // --- whatsapp, from the platform's own webhooks (Meta Cloud API, Evolution API) ---
    // delivered/sent status updates over the window, against the same ratio over the
    // baseline: below this share of its usual level for the `for` warns. (The absolute
    // thresholds on the app's counters are CriticalDeliveryRate and LowDeliveryRate.)
    whatsappDeliveryWindow: '1h',
    whatsappDeliveryBaseline: '1d',
    whatsappDeliveryDropRatio: 0.8,
    whatsappDeliveryFor: '15m',
    // Meta error codes that warn when their share of the messages sent or failed spikes:
    // re-engagement window, undeliverable, marketing frequency cap, policy block.
    whatsappSpikeCodes: ['131047', '131026', '131049', '368'],
    whatsappSpikeRatio: 0.05,
    whatsappSpikeWindow: '15m',
    whatsappSpikeFor: '10m',
    // Any rate-limit hit (Meta 130429 throughput, 131048 spam, 131056 pair) in the window
    // informs; WhatsAppRateLimitHit warns, and mutes it, above whatsappRateLimitWarning.
    whatsappRateLimitAnyWindow: '15m',
    whatsappRateLimitAnyHits: 0,
    whatsappQualityBadRatings: 'YELLOW|RED',
    // A messaging limit below its highest value in the lookback: Meta lowered it.
    whatsappMessagingLimitLookback: '1d',
    whatsappInstanceDisconnectedFor: '5m',
    // A QR code asked for in the window while the instance is not open: it is logged out.
    // The `for` leaves a person pairing a new instance time to scan it.
    whatsappQrWindow: '5m',
    whatsappQrFor: '2m',
    whatsappTemplateBadStatuses: 'PAUSED|REJECTED|DISABLED',
    // No webhook at all in the window (plus the `for`) while messages are sent, after
    // webhooks within the lookback (a team that never pointed webhooks here is silent).
    // "Sent": the app's sent messages, or jobs completed by these BullMQ queues.
    whatsappWebhooksStoppedWindow: '10m',
    whatsappWebhooksStoppedFor: '5m',
    whatsappWebhooksLookback: '1d',
    whatsappSendQueues: '.+',
    // Rejected-request reasons of the exporter that mean a webhook failed authentication
    // (a wrong secret, or someone probing); ExporterEventsRejected leaves them out.
    webhookAuthFailureReasons: 'bad_signature',
    webhookAuthFailureRate: 0,  // per second
    webhookAuthFailureFor: '10m',
    // Forwarding on (ANCLORA_META_FORWARD_URL): the share of forwards the app did not take.
    // The exporter then answers Meta with an error, so Meta retries and nothing is lost,
    // but the bot gets no webhook (no customer message) until the app takes them again.
    webhookForwardFailureRatio: 0.5,
    webhookForwardFailureFor: '5m',

    // --- redis ---
    redisLatencyQuantile: 0.95,
    redisLatencyWarningSeconds: 0.01,
    redisLatencyWarningFor: '5m',
    redisPoolUsedRatio: 1,  // 20 of 20 connections in use
    redisPoolFor: '5m',
    redisDownFor: '2m',
    redisEvictionPolicyFor: '5m',

    // --- system ---
    heapCriticalBytes: 1024 * 1024 * 1024,  // 1 GiB
    heapCriticalFor: '5m',
    heapWarningBytes: 768 * 1024 * 1024,  // 768 MiB
    heapWarningFor: '10m',
    eventLoopLagWarningSeconds: 0.1,
    eventLoopLagWarningFor: '5m',
    cpuWarningRatio: 0.8,
    cpuWarningFor: '10m',
    // extra: disk filling (node-mixin pattern: low AND predicted to run out)
    diskFreeRatioWarning: 0.15,
    diskPredictWindow: '6h',
    diskPredictHours: 24,
    diskFillingFor: '30m',
    // A disk that is simply full (node-exporter's filesystems; read-only ones never fill).
    // Pseudo and in-memory filesystems are left out; `fstype!=""` as in node-mixin.
    nodeFsSelector: 'fstype!="", fstype!~"tmpfs|ramfs|squashfs|nsfs|overlay|fuse.lxcfs"',
    diskUsageWarningRatio: 0.85,
    diskUsageWarningFor: '15m',
    diskUsageCriticalRatio: 0.95,
    diskUsageCriticalFor: '5m',
    // extra: a critical error logged alerts at once (the user's requirement)
    criticalErrorSeverities: 'fatal|critical',
    criticalErrorWindow: '10m',

    // --- business ---
    noConversionsWindow: '1h',
    noConversionsFor: '6h',
    leadRateInfoPerHour: 0.1,
    leadRateWindow: '1h',
    leadRateInfoFor: '2h',
    highValueSaleEuros: 5000000,  // must be a bucket boundary of conversion_value_euros,
    highValueSaleLe: '5e+06',  // spelled as in its `le` label (tests check the two agree)
    highValueSaleWindow: '10m',

    // --- exporter (extra) ---
    exporterDownFor: '5m',
    // The app sends events (its gauges every few seconds) while it lives; none for this
    // window, after some within the lookback, means the app died (AppEventsStopped).
    appEventsStoppedWindow: '10m',
    appEventsStoppedFor: '5m',
    appEventsLookback: '1d',
    eventsRejectedRate: 0.01,  // rejected application events per second
    eventsRejectedFor: '15m',
    // A consumed stream (BullMQ events, app events) whose unread backlog is large and still
    // growing: the exporter falls behind, and entries trimmed before it reads them are lost.
    streamLagWarning: 1000,
    streamLagTrendWindow: '15m',
    streamLagFor: '15m',

    // --- resilience (the app's breakers, limiter, HTTP server, errors) ---
    circuitBreakerOpenFor: '5m',
    rateLimitRejectionsRate: 0.1,  // requests per second the app's limiter refuses
    rateLimitRejectionsFor: '10m',
    httpServerErrorStatus: '5..',
    httpErrorRatioWarning: 0.05,
    httpErrorRatioFor: '5m',
    minHttpRate: 0.01,  // requests per second below which the 5xx ratio is noise
    httpLatencyQuantile: 0.95,
    httpLatencyWarningSeconds: 1,
    httpLatencyWarningFor: '10m',
    // Errors per hour, the user's traffic light: more than 5 amber, more than 20 red.
    errorsPerHourSeverities: 'fatal|critical|error',
    errorsPerHourWarning: 5,
    errorsPerHourCritical: 20,
    errorsPerHourFor: '5m',

    // --- monitoring the monitoring ---
    // How often Alertmanager resends Watchdog to the dead man's switch (its repeat_interval
    // in alertmanager/alertmanager.yml; the switch's period must be longer).
    watchdogRepeat: '1m',
    targetDownFor: '5m',
    ruleFailuresFor: '15m',  // kube-prometheus's PrometheusRuleFailures
    notificationFailureRatio: 0.01,  // failed share of one integration's notifications
    notificationFailuresFor: '5m',

    // --- SLOs (SRE workbook, multi-window multi-burn-rate) ---
    queueSuccessTarget: 0.99,
    whatsappSuccessTarget: 0.995,
    // [long window, short window, burn rate, severity]; page on fast burn, ticket on slow.
    sloWindows: [
      { long: '1h', short: '5m', burn: 14.4, severity: 'critical', speed: 'fast' },
      { long: '6h', short: '30m', burn: 6, severity: 'critical', speed: 'fast' },
      { long: '1d', short: '2h', burn: 3, severity: 'warning', speed: 'slow' },
      { long: '3d', short: '6h', burn: 1, severity: 'warning', speed: 'slow' },
    ],
    sloFastFor: '2m',
    sloSlowFor: '15m',

    // --- Grafana ---
    // The stack's provisioning names its data sources with these uids.
    datasources: { prometheus: 'prometheus', loki: 'loki', alertmanager: 'alertmanager' },
    // Loki stream selector of the bot's and exporter's logs. Alloy and Promtail keep only
    // the labels service, component and level (alloy/config.alloy, promtail/promtail.yml):
    // a selector on any other label (job, filename...) matches no stream. `$service` is the
    // Logs dashboard's variable (its "All" is `.+`: Loki refuses a selector that matches
    // the empty string). tests/test_log_shipping.py ties the two.
    lokiSelector: 'service=~"$service"',
    // The `component` field the logs carry: the SPEC's component loggers (queue, analytics,
    // whatsapp, bot, api) and the exporter's own get_logger() names (exporter, api, health,
    // ingest, queue). tests/test_log_shipping.py checks this list against both.
    logComponents: ['queue', 'analytics', 'whatsapp', 'bot', 'api', 'exporter', 'health', 'ingest'],
    // Links in alerts are made when Prometheus evaluates them, from its external labels
    // (prometheus/prometheus.yml sets them from GRAFANA_ROOT_URL and RUNBOOK_BASE_URL at
    // deploy time); these are the fallbacks for a Prometheus without those labels.
    grafanaUrl: 'http://localhost:3001',
    grafanaUrlLabel: 'grafana_url',
    runbookBaseUrl: 'https://github.com/anclora/anclora-monitoring/blob/main/docs/runbooks.md',
    runbookBaseUrlLabel: 'runbook_base_url',
    dashboardTags: ['anclora', 'whatsapp'],
    dashboardTimezone: 'browser',
    dashboardRefresh: '30s',
    // Fixed uids (at most 40 characters) so links and provisioning survive re-imports.
    dashboardUids: {
      overview: 'anclora-overview',
      queue: 'anclora-queue',
      analytics: 'anclora-analytics',
      whatsapp: 'anclora-whatsapp-api',
      redis: 'anclora-redis',
      system: 'anclora-system-runtime',
      business: 'anclora-bot-business',
      errors: 'anclora-errors-resilience',
      logs: 'anclora-logs',
      bullmq: 'anclora-bullmq',
    },
    // Alert -> <runbook base>#<alertname lower-case>, GitHub's anchor for "## AlertName".
    runbookUrlPattern: '%(base)s#%(anchor)s',
    // Alert -> the panel showing its signal; `vars` adds e.g. &var-queue={{ $labels.queue }}.
    dashboardUrlPattern: '%(grafanaUrl)s/d/%(uid)s?viewPanel=%(panel)d%(vars)s',
  },
}
