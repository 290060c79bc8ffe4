// Entry point of every file generated from the mixin. From the repository root,
//   jsonnet -S -m . mixin/build.jsonnet
// writes alerts/<group>.yml, alerts/recording-rules.yml, dashboards/<key>.json and
// docs/alerts.md exactly as committed; `python -m tools.build` writes the same text.
local mixin = import 'mixin.libsonnet';
local manifest = import 'lib/manifest.libsonnet';
local docs = import 'lib/docs.libsonnet';

// The rules as plain data, evaluated once: jsonnet evaluates an object's field again at
// each read, and the rule files and docs/alerts.md both read every rule.
local alerts = std.parseJson('' + mixin.prometheusAlerts);
local rules = std.parseJson('' + mixin.prometheusRules);
local dashboards = mixin.grafanaDashboards;

local ruleFile(doc) = manifest.yaml(
  'Generated from mixin/ by `python -m tools.build` (or `jsonnet -S -m . mixin/build.jsonnet`); do not edit.',
  doc,
  order=['name', 'rules', 'alert', 'record', 'expr', 'for', 'labels', 'annotations',
         'summary', 'description', 'runbook_url', 'dashboard_url'],
);

// Prometheus loads alerts/*.yml: one file per alert group, and the recording rules.
{ ['alerts/%s.yml' % g.name]: ruleFile({ groups: [g] }) for g in alerts.groups }
+ { 'alerts/recording-rules.yml': ruleFile(rules) }
// Grafana provisions dashboards/*.json.
+ { ['dashboards/%s.json' % key]: manifest.json(dashboards[key]) for key in std.objectFields(dashboards) }
+ { 'docs/alerts.md': docs.alertsMarkdown(alerts, rules) }
