// Business alerts (SPEC matrix group "business"). Quiet hours are not failures: the
// "no conversions" and "few leads" alerts only count while customers are writing in.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local traffic(window) =
      'sum(increase(%(ns)s_analytics_messages_received_total{%(exporterSelector)s}[%(w)s])) > 0' % (c { w: window }),

    groups+: [lib.group('business', [
      lib.alert(
        'NoConversionsToday', 'warning', subject='conversions', dependsOn='exporter', forDuration=c.noConversionsFor,
        dashboard='analytics', panel="Today's conversions",
        // `or vector(0)`: a bot that never converted has no conversions series at all.
        expr='(sum(increase(%(ns)s_analytics_conversions_total{%(exporterSelector)s}[%(noConversionsWindow)s])) or vector(0)) < 1\nand\n' % c
             + traffic(c.noConversionsWindow),
        summary='No conversion for hours despite incoming messages.',
        description='Customers kept writing in but no conversion was recorded for more than %s.' % c.noConversionsFor,
      ),
      lib.alert(
        'LowLeadCaptureRate', 'info', subject='lead-capture', dependsOn='exporter', forDuration=c.leadRateInfoFor,
        dashboard='analytics', panel='Leads captured today',
        expr='(sum(rate(%(ns)s_business_leads_captured_total{%(exporterSelector)s}[%(leadRateWindow)s])) or vector(0)) * 3600 < %(leadRateInfoPerHour)g\nand\n' % c
             + traffic(c.leadRateWindow),
        summary='Few leads are captured.',
        description='Leads are captured at {{ printf "%%.2f" $value }} per hour while customers write in (threshold %g/h).' % c.leadRateInfoPerHour,
      ),
      lib.alert(
        'HighValueSale', 'info', subject='high-value-sale', dependsOn='exporter',
        dashboard='analytics', panel="Today's revenue",
        // Counts conversions above the threshold bucket. The second half catches a
        // conversion type whose very first observation is the big one (a new series).
        expr=|||
          (
            sum by (conversion_type) (increase(%(ns)s_analytics_conversion_value_euros_bucket{%(exporterSelector)s, le="+Inf"}[%(highValueSaleWindow)s]))
            -
            sum by (conversion_type) (increase(%(ns)s_analytics_conversion_value_euros_bucket{%(exporterSelector)s, le="%(highValueSaleLe)s"}[%(highValueSaleWindow)s]))
          ) > 0.5
          or
          (
            (
              sum by (conversion_type) (%(ns)s_analytics_conversion_value_euros_bucket{%(exporterSelector)s, le="+Inf"})
              -
              sum by (conversion_type) (%(ns)s_analytics_conversion_value_euros_bucket{%(exporterSelector)s, le="%(highValueSaleLe)s"})
            ) > 0
            unless
            sum by (conversion_type) (%(ns)s_analytics_conversion_value_euros_bucket{%(exporterSelector)s, le="+Inf"} offset %(highValueSaleWindow)s)
          )
        ||| % c,
        summary='A sale above EUR %s was recorded.' % lib.thousands(c.highValueSaleEuros),
        description='{{ $value | humanize }} {{ $labels.conversion_type }} conversion(s) worth more than EUR %s each in the last %s.' % [lib.thousands(c.highValueSaleEuros), c.highValueSaleWindow],
      ),
    ])],
  },
}
