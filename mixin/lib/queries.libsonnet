// PromQL written once and read by alerts, recording rules and dashboards. Each function
// takes the resolved config `c` (or a selector built from it), so the metric prefix and
// the job selectors only ever come from config.libsonnet.
{
  // A dashboard's selector: `selector` narrowed to the dashboard's `$instance` variable,
  // plus optional matchers, e.g. instanceSelector(c.exporterSelector, 'queue=~"$queue"').
  instanceSelector(selector, extra='')::
    '%s, instance=~"$instance"' % selector + (if extra == '' then '' else ', ' + extra),

  // The values of a dashboard's `$instance` variable: every exporter Prometheus scrapes.
  exporterInstances(c):: 'label_values(up{%(exporterSelector)s}, instance)' % c,

  // Quantile `q` of histogram `metric` (without the prefix or `_bucket`) on a dashboard,
  // aggregated over every label but `by` (and `le`) across the replicas.
  histogramQuantile(c, q, metric, selector, by=[])::
    'histogram_quantile(%g, sum by (%s) (rate(%s_%s_bucket{%s}[$__rate_interval])))'
    % [q, std.join(', ', by + ['le']), c.ns, metric, selector],

  // Messages finished (processed or failed) per second per queue. A queue whose messages
  // all fail has no `processed` series at all, and one without failures no `failed`
  // series, so a plain sum of the two would drop exactly the interesting queues.
  queueFinishedRate(c, window)::
    local r = c { w: window };
    std.rstripChars(|||
      (
        (sum by (queue) (rate(%(ns)s_queue_messages_processed_total{%(exporterSelector)s}[%(w)s]))
          + sum by (queue) (rate(%(ns)s_queue_messages_failed_total{%(exporterSelector)s}[%(w)s])))
        or sum by (queue) (rate(%(ns)s_queue_messages_processed_total{%(exporterSelector)s}[%(w)s]))
        or sum by (queue) (rate(%(ns)s_queue_messages_failed_total{%(exporterSelector)s}[%(w)s]))
      )
    ||| % r, '\n'),

  // Failed / finished per queue; absent (never NaN) when nothing failed or nothing ran.
  queueErrorRatio(c, window)::
    local r = c { w: window };
    'sum by (queue) (rate(%(ns)s_queue_messages_failed_total{%(exporterSelector)s}[%(w)s]))\n/\n' % r
    + $.queueFinishedRate(c, window),

  // Events counted by `metric` (without the prefix) in `window`, summed `by`, for alerts
  // that fire on any event. A labelled counter appears at its first increment (value 1),
  // which increase() cannot see: the first QR code of an instance would go unnoticed. So a
  // series absent `window` ago counts with its whole value (`or` keeps it over its
  // increase, which ignores that first 1), but only if the exporter was already scraped
  // then: on Prometheus' first run every series is "new" and old counts must not fire.
  eventsIn(c, metric, window, by)::
    local r = c { m: '%s_%s{%s}' % [c.ns, metric, c.exporterSelector], w: window, by: by };
    std.rstripChars(|||
      sum by (%(by)s) (
        ((%(m)s > 0 unless %(m)s offset %(w)s) and on () count(up{%(exporterSelector)s} offset %(w)s) > 0)
        or
        increase(%(m)s[%(w)s])
      )
    ||| % r, '\n'),

  // Messages waiting per queue. Every exporter replica reads the same Redis keys, so
  // replicas are collapsed with max before priorities are added up: two replicas must
  // not double a backlog.
  queueWaiting(c)::
    'sum by (queue) (max by (queue, priority) (%(ns)s_queue_waiting_messages{%(exporterSelector)s}))' % c,
}
