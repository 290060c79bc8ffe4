// SLO recording rules: the error ratio of each SLO over every window the burn-rate alerts
// read (SRE workbook, chapter 5). Recorded once, read by alerts and dashboards alike.
local lib = import '../lib/alerts.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  local c = $._config,
  // Every window any SLO alert reads, long and short.
  sloRuleWindows:: std.set(std.flattenArrays([[w.long, w.short] for w in c.sloWindows]), lib.seconds),

  // Names of the recorded series, per window.
  sloRecord:: {
    queue(w): 'queue:%s_queue_messages:error_ratio_rate%s' % [c.ns, w],
    whatsapp(w): '%s_whatsapp_api_calls:error_ratio_rate%s' % [c.ns, w],
  },

  prometheusRules+:: {
    groups+: [
      {
        name: 'slo-queue.rules',
        rules: [
          lib.record($.sloRecord.queue(w), queries.queueErrorRatio(c, w))
          for w in $.sloRuleWindows
        ],
      },
      {
        name: 'slo-whatsapp.rules',
        rules: [
          lib.record($.sloRecord.whatsapp(w), |||
            sum(rate(%(ns)s_whatsapp_api_calls_total{%(exporterSelector)s, status_code=~"%(whatsappServerErrorStatus)s"}[%(w)s]))
            /
            sum(rate(%(ns)s_whatsapp_api_calls_total{%(exporterSelector)s}[%(w)s]))
          ||| % (c { w: w }))
          for w in $.sloRuleWindows
        ],
      },
    ],
  },
}
