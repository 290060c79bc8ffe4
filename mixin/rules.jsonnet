// Entry point: the recording rules (written to alerts/recording-rules.yml).
(import 'mixin.libsonnet').prometheusRules
