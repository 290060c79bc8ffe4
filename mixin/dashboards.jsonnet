// Entry point: the dashboards by key (written to dashboards/<key>.json).
(import 'mixin.libsonnet').grafanaDashboards
