// Small helpers for alert groups and recording rules. Each alert names the dashboard panel that shows its
// signal (hidden fields); mixin.libsonnet turns that into `dashboard_url` and adds
// `runbook_url` to every alert in one pass, so no alert can miss either.
{
  // One alerting rule. `for` '0' (or omitted) means the alert fires at the first evaluation.
  // `subject` and `dependsOn` are the labels Alertmanager's inhibition reads
  // (alertmanager/alertmanager.yml):
  //   subject    what the alert is about; a critical mutes the warning/info alerts of the
  //              same subject (and queue/instance), e.g. CriticalQueueLatency mutes
  //              HighQueueLatency. One alert per (category, subject, severity).
  //   dependsOn  whose data the alert reads: 'exporter' (app events, the exporter's own
  //              collectors) or 'redis' (BullMQ state read from Redis); these alerts are
  //              muted while the exporter (subject exporter-up) or Redis (redis-up) is
  //              down. null only for the alerts that say the exporter itself is down.
  alert(name, severity, subject, dependsOn, expr, summary, description, dashboard, panel, forDuration='0', vars='')::
    assert std.member(['exporter', 'redis', null], dependsOn) : '%s: dependsOn %s' % [name, dependsOn];
    {
      alert: name,
      expr: $.promql(expr),
      [if forDuration != '0' then 'for']: forDuration,
      labels: { severity: severity, subject: subject }
              + (if dependsOn == null then {} else { depends_on: dependsOn }),
      annotations: { summary: summary, description: description },
      dashboard:: dashboard,
      panel:: panel,
      // Extra dashboard URL parameters, e.g. '&var-queue={{ $labels.queue }}'.
      dashboardVars:: vars,
    },

  // One recording rule.
  record(name, expr):: { record: name, expr: $.promql(expr) },

  // Multi-line PromQL ends with one newline (a readable YAML block), a one-liner with none.
  // Written with native std.substr and std.filter: std.stripChars and std.findSubstr cut
  // strings one character at a time in jsonnet, and doubled the time of every alert.
  promql(expr)::
    local space(c) = c == ' ' || c == '\t' || c == '\n';
    local trim(s) =
      local n = std.length(s);
      if n > 0 && space(s[n - 1]) then trim(std.substr(s, 0, n - 1))
      else if n > 0 && space(s[0]) then trim(std.substr(s, 1, n - 1))
      else s;
    local e = trim(expr);
    if std.length(std.filter(function(c) c == '\n', std.stringChars(e))) > 0 then e + '\n' else e,

  // A rule group; every alert gets the `category` label (the group name unless given).
  group(name, rules, category=name):: {
    name: name,
    rules: [r { labels+: { category: category } } for r in rules],
  },

  // A threshold in PromQL or text: '%g', but jsonnet 0.18 (Debian's CLI) overflows on
  // '%g' % 0.
  number(x):: if x == 0 then '0' else '%g' % x,

  // 5000000 -> '5,000,000' (amounts in summaries).
  thousands(n)::
    local s = '%d' % n;
    local first = std.length(s) - 3 * std.floor((std.length(s) - 1) / 3);
    std.join(',', [s[:first]] + [s[i:i + 3] for i in std.range(first, std.length(s) - 1) if (i - first) % 3 == 0]),

  // '30m' -> 1800: sorts windows shortest first.
  seconds(d):: std.parseInt(d[:std.length(d) - 1]) * { s: 1, m: 60, h: 3600, d: 86400 }[d[std.length(d) - 1]],
}
