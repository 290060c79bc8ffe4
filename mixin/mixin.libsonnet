// The whole mixin: alert groups, recording rules, dashboards, then the config (last, so
// its values win). Importers add their own `_config+::` on top. mixin/build.jsonnet
// writes the generated files: `jsonnet -S -m . mixin/build.jsonnet` or
// `python -m tools.build`.
//
// A new alert touches four files:
//   mixin/alerts/<group>.libsonnet   lib.alert(name, severity, subject, dependsOn, ...)
//   mixin/config.libsonnet           its threshold and `for`
//   docs/runbooks.md                 a `## AlertName` section
//   tests/mixin/rules/<group>.yml    promtool cases: just before and after its `for`
// then `python -m tools.build`. (Before: also the subjects table and the idle case.)
local alertFiles = [
  import 'alerts/queue.libsonnet',
  import 'alerts/analytics.libsonnet',
  import 'alerts/whatsapp.libsonnet',
  import 'alerts/whatsapp-webhooks.libsonnet',
  import 'alerts/redis.libsonnet',
  import 'alerts/system.libsonnet',
  import 'alerts/business.libsonnet',
  import 'alerts/exporter.libsonnet',
  import 'alerts/slo.libsonnet',
  import 'alerts/resilience.libsonnet',
  import 'alerts/monitoring.libsonnet',
];
local dashboardFiles = [
  import 'dashboards/overview.libsonnet',
  import 'dashboards/queue.libsonnet',
  import 'dashboards/bullmq.libsonnet',
  import 'dashboards/analytics.libsonnet',
  import 'dashboards/whatsapp.libsonnet',
  import 'dashboards/redis.libsonnet',
  import 'dashboards/system.libsonnet',
  import 'dashboards/business.libsonnet',
  import 'dashboards/errors.libsonnet',
  import 'dashboards/logs.libsonnet',
];

local base = std.foldl(function(acc, f) acc + f, alertFiles + dashboardFiles, {})
             + (import 'rules/slo.libsonnet')
             + (import 'config.libsonnet');

base {
  local c = self._config,
  local dashboards = super.grafanaDashboards,

  // The id of the panel titled `title` on dashboard `key`; a typo fails the build.
  local panelId(key, title) =
    local ids = [p.id for p in dashboards[key].panels if p.title == title];
    assert std.length(ids) == 1 : 'dashboard %s has no panel titled %s' % [key, title];
    ids[0],

  // A URL base chosen at deploy time: Prometheus's external label `label` when it has
  // one, else `default` (a Go template, expanded when the alert is evaluated).
  local deployed(label, default) =
    '{{ with $externalLabels.%s }}{{ . }}{{ else }}%s{{ end }}' % [label, default],

  // One pass over every alert: runbook_url (docs/runbooks.md#alertname) and dashboard_url
  // (the panel that shows the alert's signal, with its template variables filled in).
  prometheusAlerts+:: {
    groups: [
      g {
        rules: [
          r {
            annotations+: {
              runbook_url: c.runbookUrlPattern % {
                base: deployed(c.runbookBaseUrlLabel, c.runbookBaseUrl),
                anchor: std.asciiLower(r.alert),
              },
              dashboard_url: c.dashboardUrlPattern % {
                grafanaUrl: deployed(c.grafanaUrlLabel, c.grafanaUrl),
                uid: c.dashboardUids[r.dashboard],
                panel: panelId(r.dashboard, r.panel),
                vars: r.dashboardVars,
              },
            },
          }
          for r in g.rules
        ],
      }
      for g in super.groups
    ],
  },
}
