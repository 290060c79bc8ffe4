// Logs (Loki): volume by level, the error stream, and every line filtered by component.
// The stream selector uses only labels the shipped Alloy and Promtail configs keep
// (service, component; see lokiSelector). Lines that are not JSON are dropped
// (`__error__=""`), so foreign logs cannot break a panel.
local g = import '../lib/dashboard.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { parsed: '{%(lokiSelector)s, component=~"$component"} | json | __error__=""' % c },

    logs: g.dashboard(c, 'logs', 'Anclora / Logs', loki=true, time='now-1h', variables=[
      // Services Loki has seen; "All" is `.+`, not `.*`: a stream selector must not match
      // the empty string.
      g.queryVariable('service', 'Service', 'label_values(service)', ds='loki') { allValue: '.+' },
      g.customVariable('component', 'Component', c.logComponents),
    ], panels=[
      g.timeseries('Log volume by level', 'short', stack=true, bars=true, w=24, targets=[
        g.lokiTarget('sum by (level) (count_over_time(%(parsed)s [$__interval]))' % v, '{{level}}'),
      ], description='Log lines per interval by level (fatal, error, warn, info, http, debug, trace).'),
      g.logs('Error log stream', targets=[
        g.lokiTarget('%(parsed)s | level=~"fatal|error"' % v),
      ], description='Lines at level fatal or error of the services and components chosen above.'),
      g.logs('Logs by component', targets=[
        g.lokiTarget('%(parsed)s' % v),
      ], description='Every line of the services and components chosen above.'),
    ]),
  },
}
