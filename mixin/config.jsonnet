// Entry point: the resolved config (tests and docs read thresholds from it).
(import 'mixin.libsonnet')._config
