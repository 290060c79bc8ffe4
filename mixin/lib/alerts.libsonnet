// Small helpers for alert groups. Each alert names the dashboard panel that shows its
// signal (hidden fields); mixin.libsonnet turns that into `dashboard_url` and adds
// `runbook_url` to every alert in one pass, so no alert can miss either.
{
  // One alerting rule. `for` '0' (or omitted) means the alert fires at the first evaluation.
  alert(name, severity, expr, summary, description, dashboard, panel, forDuration='0', vars=''):: {
    alert: name,
    expr: expr,
    [if forDuration != '0' then 'for']: forDuration,
    labels: { severity: severity },
    annotations: { summary: summary, description: description },
    dashboard:: dashboard,
    panel:: panel,
    // Extra dashboard URL parameters, e.g. '&var-queue={{ $labels.queue }}'.
    dashboardVars:: vars,
  },

  // A rule group; every alert gets the `category` label (the group name unless given).
  group(name, rules, category=name):: {
    name: name,
    rules: [r { labels+: { category: category } } for r in rules],
  },

  // 5000000 -> '5,000,000' (amounts in summaries).
  thousands(n)::
    local s = '%d' % n;
    local first = std.length(s) - 3 * std.floor((std.length(s) - 1) / 3);
    std.join(',', [s[:first]] + [s[i:i + 3] for i in std.range(first, std.length(s) - 1) if (i - first) % 3 == 0]),

  // '30m' -> 1800: sorts windows shortest first.
  seconds(d):: std.parseInt(d[:std.length(d) - 1]) * { s: 1, m: 60, h: 3600, d: 86400 }[d[std.length(d) - 1]],
}
