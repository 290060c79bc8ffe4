// Entry point: the alert groups (python -m exporter build writes one alerts/<group>.yml each).
(import 'mixin.libsonnet').prometheusAlerts
