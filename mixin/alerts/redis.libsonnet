// Redis alerts (SPEC matrix group "redis") plus RedisDown.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    groups+: [lib.group('redis', [
      lib.alert(
        'HighRedisLatency', 'warning', subject='redis-latency', dependsOn='exporter', forDuration=c.redisLatencyWarningFor,
        dashboard='redis', panel='Command latency (app side)',
        expr=|||
          histogram_quantile(%(redisLatencyQuantile)g,
            sum by (le) (rate(%(ns)s_redis_operation_latency_seconds_bucket{%(exporterSelector)s}[%(rateWindow)s]))
          ) > %(redisLatencyWarningSeconds)g
        ||| % c,
        summary='Redis answers the app slowly.',
        description='p%g latency of Redis commands seen by the app is {{ $value | humanizeDuration }} (threshold %gs).' % [c.redisLatencyQuantile * 100, c.redisLatencyWarningSeconds],
      ),
      lib.alert(
        'RedisConnectionPoolExhausted', 'warning', subject='redis-pool', dependsOn='exporter', forDuration=c.redisPoolFor,
        dashboard='redis', panel='Connection pool',
        // `> 0` on the limit: a pool reported with size 0 must not divide by zero.
        expr=|||
          max(%(ns)s_redis_pool_connections_in_use{%(exporterSelector)s})
          /
          (max(%(ns)s_redis_pool_connections_max{%(exporterSelector)s}) > 0)
          >= %(redisPoolUsedRatio)g
        ||| % c,
        summary="The app's Redis connection pool is exhausted.",
        description='{{ $value | humanizePercentage }} of the Redis connection pool is in use; new commands wait for a free connection.',
      ),
      lib.alert(
        'RedisDown', 'critical', subject='redis-up', dependsOn='exporter', forDuration=c.redisDownFor,
        dashboard='redis', panel='Redis up',
        // The exporter still answers when Redis is down, with redis_up 0 (all replicas).
        expr='max(%(ns)s_exporter_redis_up{%(exporterSelector)s}) == 0' % c,
        summary='Redis is unreachable.',
        description='No exporter replica has reached Redis for %s: the queue, and with it the bot, is stopped.' % c.redisDownFor,
      ),
      lib.alert(
        'RedisEvictionPolicy', 'warning', subject='redis-eviction', dependsOn='exporter', forDuration=c.redisEvictionPolicyFor,
        dashboard='redis', panel='Memory used',
        // BullMQ requires noeviction: under any other policy a full Redis deletes keys,
        // jobs and their queues' bookkeeping included, and says nothing.
        expr='max by (policy) (%(ns)s_redis_maxmemory_policy{%(exporterSelector)s, policy!="noeviction"}) == 1' % c,
        summary="Redis may evict BullMQ's keys.",
        description='Redis runs with maxmemory-policy {{ $labels.policy }}: when it is full it deletes keys, jobs included. BullMQ needs noeviction.',
      ),
    ])],
  },
}
