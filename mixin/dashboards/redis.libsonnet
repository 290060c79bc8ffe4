// Redis: the server as redis_exporter sees it, and commands as the app sees them.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local r = c { sel: queries.instanceSelector(c.redisExporterSelector) },
    local a = c { sel: c.exporterSelector },
    local q(p) = g.target(queries.histogramQuantile(c, p, 'redis_operation_latency_seconds', a.sel, ['operation']), '{{operation}} p%d' % (p * 100)),

    redis: g.dashboard(c, 'redis', 'Anclora / Redis', variables=[
      g.queryVariable('instance', 'Redis exporter', 'label_values(redis_up{%(redisExporterSelector)s}, instance)' % c),
    ], panels=[
      g.stat('Redis up', 'bool_yes_no', description="Whether Redis answers the anclora exporter, and redis_exporter's redis_up (empty where redis_exporter does not run); RedisDown pages after %s without the exporter's." % c.redisDownFor, thresholds=[[null, 'red'], [1, 'green']], targets=[
        g.target('max(%(ns)s_exporter_redis_up{%(sel)s})' % a, 'anclora exporter'),
        g.target('max(redis_up{%(sel)s})' % r, 'redis_exporter'),
      ]),
      // redis_exporter's figure, else the exporter's own (it reads INFO too): the panels
      // stay filled where redis_exporter is not deployed.
      g.stat('Uptime', 's', targets=[g.target('max(redis_uptime_in_seconds{%s}) or max(%s_redis_uptime_seconds{%s})' % [r.sel, c.ns, a.sel])],
             description='Seconds since the Redis server started (redis_exporter, else the anclora exporter).'),
      g.stat('Connected clients', 'short', targets=[g.target('sum(redis_connected_clients{%s}) or max(%s_redis_connected_clients{%s})' % [r.sel, c.ns, a.sel])],
             description='Client connections to Redis (redis_exporter, else the anclora exporter).'),
      g.stat('Memory used', 'bytes', targets=[g.target('sum(redis_memory_used_bytes{%s}) or max(%s_redis_used_memory_bytes{%s})' % [r.sel, c.ns, a.sel])],
             description='Memory Redis uses (redis_exporter, else the anclora exporter). RedisEvictionPolicy warns when maxmemory-policy is not noeviction: a full Redis would then drop BullMQ jobs silently.'),
      g.timeseries('Command latency (app side)', 's', targets=[q(0.95), q(0.99)],
                   description='p95 and p99 latency (seconds) of the Redis commands the app issues, reported by the app; HighRedisLatency warns when p95 > %gs for %s.' % [c.redisLatencyWarningSeconds, c.redisLatencyWarningFor]),
      g.timeseries('Operations (app side)', 'ops', description='Redis commands the app issues per second, stacked by operation and status, reported by the app as events.', stack=true, targets=[
        g.target('sum by (operation, status) (rate(%(ns)s_redis_operations_total{%(sel)s}[$__rate_interval]))' % a, '{{operation}} {{status}}'),
      ]),
      g.timeseries('Connection pool', 'short', description="Connections of the app's Redis pool in use and its size limit, reported by the app; RedisConnectionPoolExhausted warns at %g%% in use for %s." % [c.redisPoolUsedRatio * 100, c.redisPoolFor], targets=[
        g.target('max(%(ns)s_redis_pool_connections_in_use{%(sel)s})' % a, 'in use'),
        g.target('max(%(ns)s_redis_pool_connections_max{%(sel)s})' % a, 'max'),
      ]),
      g.timeseries('Commands processed (server)', 'ops', description='Commands the Redis server processes per second, all clients, from redis_exporter (empty without it).', targets=[
        g.target('sum(rate(redis_commands_processed_total{%(sel)s}[$__rate_interval]))' % r, 'commands'),
      ]),
      g.timeseries('Ping latency (exporter)', 's', description="Round trip (seconds) of the anclora exporter's PING to Redis, per exporter replica.", targets=[
        g.target('max by (instance) (%(ns)s_redis_ping_latency_seconds{%(sel)s})' % a, '{{instance}}'),
      ]),
      g.timeseries('Keyspace hit ratio', 'percentunit', description='Share of key look-ups that found the key (0-100 %), from redis_exporter (empty without it).', targets=[
        g.target('sum(rate(redis_keyspace_hits_total{%(sel)s}[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total{%(sel)s}[$__rate_interval])) + sum(rate(redis_keyspace_misses_total{%(sel)s}[$__rate_interval])))' % r, 'hits'),
      ]),
    ]),
  },
}
