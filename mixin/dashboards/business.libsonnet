// Bot and business: what the bot understands, how much it handles alone, and what it sells.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },

    business: g.dashboard(c, 'business', 'Anclora / Bot and business', variables=[
      g.instanceVariable(c),
    ], panels=[
      g.timeseries('Intents', 'suffix: /s', stack=true, targets=[
        g.target('sum by (intent) (rate(%(ns)s_bot_intents_total{%(sel)s}[$__rate_interval]))' % v, '{{intent}}'),
      ]),
      g.timeseries('Intent confidence (median)', 'percentunit', targets=[
        g.target(queries.histogramQuantile(c, 0.5, 'bot_intent_confidence_ratio', v.sel, ['intent']), '{{intent}}'),
      ]),
      g.timeseries('Automated vs handoff', 'suffix: /s', stack=true, targets=[
        g.target('sum(rate(%(ns)s_bot_automated_responses_total{%(sel)s}[$__rate_interval]))' % v, 'automated'),
        g.target('sum(rate(%(ns)s_analytics_handoffs_total{%(sel)s}[$__rate_interval]))' % v, 'handed to a human'),
      ]),
      g.timeseries('Leads captured', 'short', bars=true, targets=[
        g.target('sum by (source, quality) (increase(%(ns)s_business_leads_captured_total{%(sel)s}[1h]))' % v, '{{source}} {{quality}}'),
      ], description='Leads per hour by source and quality.'),
      g.timeseries('Appointments scheduled', 'short', bars=true, targets=[
        g.target('sum by (type) (increase(%(ns)s_business_appointments_scheduled_total{%(sel)s}[1h]))' % v, '{{type}}'),
      ], description='Appointments per hour by type.'),
      g.bargauge('Sales pipeline', 'short', targets=[
        g.target('max by (stage) (%(ns)s_business_sales_pipeline{%(sel)s})' % v, '{{stage}}'),
      ]),
      g.timeseries('Revenue', 'currencyEUR', bars=true, targets=[
        g.target('sum(increase(%(ns)s_analytics_conversion_value_euros_sum{%(sel)s}[1d]))' % v, 'per day'),
      ], description='Conversion value per day (EUR).'),
      g.timeseries('Property inquiry value (median)', 'currencyEUR', targets=[
        g.target(queries.histogramQuantile(c, 0.5, 'business_property_inquiry_value_euros', v.sel), 'median'),
      ]),
    ]),
  },
}
