// Analytics: exactly the user's 13 panels (SPEC.md). "Today" stats use the panel time
// override now/d (today so far), whatever range the dashboard shows.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },
    local sumRate(metric, by='') = 'sum%s(rate(%s_%s{%s}[$__rate_interval]))' % [if by == '' then '' else ' by (%s) ' % by, c.ns, metric, v.sel],
    local today(metric) = 'sum(increase(%s_%s{%s}[$__range]))' % [c.ns, metric, v.sel],
    local ratio(num, den) = '%s / %s' % [today(num), today(den)],
    local rateThresholds = [[null, 'red'], [c.deliveryRatioCritical, 'yellow'], [c.deliveryRatioWarning, 'green']],

    analytics: g.dashboard(c, 'analytics', 'Anclora / Analytics', variables=[
      g.instanceVariable(c),
    ], panels=[
      g.timeseries('Message flow (sent, delivered, read)', 'suffix: msg/s', w=24, targets=[
        g.target(sumRate('analytics_messages_sent_total'), 'sent'),
        g.target(sumRate('analytics_messages_delivered_total'), 'delivered'),
        g.target(sumRate('analytics_messages_read_total'), 'read'),
      ], description='The funnel sent -> delivered -> read, in messages per second, reported by the app as events.'),
      g.gauge('Delivery rate', 'percentunit', 0, 1, rateThresholds, targets=[
        g.target(ratio('analytics_messages_delivered_total', 'analytics_messages_sent_total'), instant=true),
      ], description='Delivered / sent messages over the dashboard time range, reported by the app as events; LowDeliveryRate and CriticalDeliveryRate fire below %g%% and %g%% over %s.' % [c.deliveryRatioWarning * 100, c.deliveryRatioCritical * 100, c.rateWindow]),
      g.gauge('Read rate', 'percentunit', 0, 1, [[null, 'orange'], [0.5, 'green']], targets=[
        g.target(ratio('analytics_messages_read_total', 'analytics_messages_delivered_total'), instant=true),
      ], description='Read / delivered messages over the dashboard time range, reported by the app as events.'),
      g.stat('Active conversations', 'short', description='Conversations open now (count), reported by the app as events; the highest value across exporter replicas.', h=8, targets=[
        g.target('max(%(ns)s_analytics_active_conversations{%(sel)s})' % v),
      ]),
      g.stat('Average response time', 's', description='Mean time to answer a customer message over the dashboard time range (seconds), reported by the app as events; red from %gs, where HighResponseTime warns on the p%g for %s.' % [c.responseTimeWarningSeconds, c.responseTimeQuantile * 100, c.responseTimeWarningFor], h=8, thresholds=[[null, 'green'], [c.responseTimeWarningSeconds, 'red']], targets=[
        g.target('%s / %s' % [
          'sum(rate(%(ns)s_analytics_response_time_seconds_sum{%(sel)s}[$__range]))' % v,
          'sum(rate(%(ns)s_analytics_response_time_seconds_count{%(sel)s}[$__range]))' % v,
        ], instant=true),
      ]),
      g.timeseries('Conversions by type', 'short', bars=true, targets=[
        g.target('sum by (conversion_type) (increase(%(ns)s_analytics_conversions_total{%(sel)s}[1h]))' % v, '{{conversion_type}}'),
      ], description='Conversions per hour, by type, reported by the app as events.'),
      g.timeseries('Conversion value', 'currencyEUR', bars=true, targets=[
        g.target('sum by (conversion_type) (increase(%(ns)s_analytics_conversion_value_euros_sum{%(sel)s}[1h]))' % v, '{{conversion_type}}'),
      ], description='Value converted per hour (EUR), by type, reported by the app as events.'),
      g.timeseries('Handoffs', 'suffix: /s', targets=[
        g.target(sumRate('analytics_handoffs_total', 'reason'), '{{reason}}'),
      ], description='Conversations handed to a human per second, by reason, reported by the app as events; HighHandoffRate informs above %g/s for %s.' % [c.handoffRateInfo, c.handoffRateInfoFor]),
      g.heatmap('Response time', g.target('sum by (le) (increase(%(ns)s_analytics_response_time_seconds_bucket{%(sel)s}[$__rate_interval]))' % v), 's', description='Distribution of the time to answer a customer message (seconds; one row per histogram bucket, answers per interval), reported by the app as events.'),
      g.stat("Today's conversions", 'short', description='Conversions (sales, bookings...) since midnight, every type, reported by the app as events; NoConversionsToday warns when messages arrive but none converts for %s.' % c.noConversionsFor, timeFrom='now/d', targets=[g.target(today('analytics_conversions_total'), instant=true)]),
      g.stat("Today's revenue", 'currencyEUR', description='Value of the conversions since midnight (EUR), reported by the app as events; HighValueSale informs on one sale above %d EUR.' % c.highValueSaleEuros, timeFrom='now/d', targets=[g.target(today('analytics_conversion_value_euros_sum'), instant=true)]),
      g.stat('Leads captured today', 'short', description='Leads captured since midnight, every source and quality, reported by the app as events; LowLeadCaptureRate informs below %g leads per hour for %s while messages arrive.' % [c.leadRateInfoPerHour, c.leadRateInfoFor], timeFrom='now/d', targets=[g.target(today('business_leads_captured_total'), instant=true)]),
      g.stat('Appointments today', 'short', description='Appointments (viewings) scheduled since midnight, every type, reported by the app as events.', timeFrom='now/d', targets=[g.target(today('business_appointments_scheduled_total'), instant=true)]),
    ]),
  },
}
