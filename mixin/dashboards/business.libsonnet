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
      g.timeseries('Intents', 'suffix: /s', description='Intents the bot detected per second, stacked by intent, reported by the app as events.', stack=true, targets=[
        g.target('sum by (intent) (rate(%(ns)s_bot_intents_total{%(sel)s}[$__rate_interval]))' % v, '{{intent}}'),
      ]),
      g.timeseries('Intent confidence (median)', 'percentunit', description='Median confidence (0-100 %) of the intents the bot detected, by intent, from the histogram the app reports; a falling median means the bot understands less.', targets=[
        g.target(queries.histogramQuantile(c, 0.5, 'bot_intent_confidence_ratio', v.sel, ['intent']), '{{intent}}'),
      ]),
      g.timeseries('Automated vs handoff', 'suffix: /s', description='Answers the bot sent on its own and conversations handed to a human, per second, reported by the app as events; HighHandoffRate informs above %g handoffs/s for %s.' % [c.handoffRateInfo, c.handoffRateInfoFor], stack=true, targets=[
        g.target('sum(rate(%(ns)s_bot_automated_responses_total{%(sel)s}[$__rate_interval]))' % v, 'automated'),
        g.target('sum(rate(%(ns)s_analytics_handoffs_total{%(sel)s}[$__rate_interval]))' % v, 'handed to a human'),
      ]),
      g.timeseries('Leads captured', 'short', bars=true, targets=[
        g.target('sum by (source, quality) (increase(%(ns)s_business_leads_captured_total{%(sel)s}[1h]))' % v, '{{source}} {{quality}}'),
      ], description='Leads captured per hour, by source and quality, reported by the app as events.'),
      g.timeseries('Appointments scheduled', 'short', bars=true, targets=[
        g.target('sum by (type) (increase(%(ns)s_business_appointments_scheduled_total{%(sel)s}[1h]))' % v, '{{type}}'),
      ], description='Appointments scheduled per hour, by type, reported by the app as events.'),
      g.bargauge('Sales pipeline', 'short', description='Deals in each sales pipeline stage now (count), as the app last reported them; the highest value across exporter replicas.', targets=[
        g.target('max by (stage) (%(ns)s_business_sales_pipeline{%(sel)s})' % v, '{{stage}}'),
      ]),
      g.timeseries('Revenue', 'currencyEUR', bars=true, targets=[
        g.target('sum(increase(%(ns)s_analytics_conversion_value_euros_sum{%(sel)s}[1d]))' % v, 'per day'),
      ], description='Conversion value per day (EUR), reported by the app as events.'),
      g.timeseries('Property inquiry value (median)', 'currencyEUR', description='Median value (EUR) of the properties customers asked about, from the histogram the app reports.', targets=[
        g.target(queries.histogramQuantile(c, 0.5, 'business_property_inquiry_value_euros', v.sel), 'median'),
      ]),
    ]),
  },
}
