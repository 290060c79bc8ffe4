// Multi-window multi-burn-rate SLO alerts (SRE workbook): page when the error budget burns
// fast (2% of a 30-day budget in 1h, 5% in 6h), ticket when it burns slowly (10% in 1d,
// 10% in 3d). Each pair of windows must agree so the alert also resolves quickly.
local lib = import '../lib/alerts.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,

    // One alert per speed (fast/slow), OR-ing its window pairs.
    local burn(name, speed, subject, dependsOn, record, target, by, summary, description, dashboard, panel, vars='') =
      local pairs = [w for w in c.sloWindows if w.speed == speed];
      lib.alert(
        name, pairs[0].severity, subject=subject, dependsOn=dependsOn, forDuration=if speed == 'fast' then c.sloFastFor else c.sloSlowFor,
        dashboard=dashboard, panel=panel, vars=vars,
        expr=std.join('\nor\n', [
          '(\n  %s > (%g * (1 - %g))\nand%s\n  %s > (%g * (1 - %g))\n)' % [
            record(w.long), w.burn, target, by, record(w.short), w.burn, target,
          ]
          for w in pairs
        ]),
        summary=summary,
        description=description,
      ),

    local queueBurn(name, speed) = burn(
      name, speed, 'queue-error-budget', 'redis', $.sloRecord.queue, c.queueSuccessTarget, ' on (queue)',
      summary='Queue {{ $labels.queue }} burns its error budget %s.' % (if speed == 'fast' then 'fast' else 'steadily'),
      description='{{ $value | humanizePercentage }} of the messages of queue {{ $labels.queue }} fail; the SLO allows %.1f%%.' % ((1 - c.queueSuccessTarget) * 100),
      dashboard='queue', panel='Success vs failed', vars='&var-queue={{ $labels.queue }}',
    ),
    local whatsappBurn(name, speed) = burn(
      name, speed, 'whatsapp-error-budget', 'exporter', $.sloRecord.whatsapp, c.whatsappSuccessTarget, '',
      summary='WhatsApp API calls burn their error budget %s.' % (if speed == 'fast' then 'fast' else 'steadily'),
      description='{{ $value | humanizePercentage }} of WhatsApp API calls fail with a server error; the SLO allows %.1f%%.' % ((1 - c.whatsappSuccessTarget) * 100),
      dashboard='whatsapp', panel='Errors by status code',
    ),

    groups+: [
      lib.group('slo-queue', [
        queueBurn('QueueErrorBudgetBurnFast', 'fast'),
        queueBurn('QueueErrorBudgetBurnSlow', 'slow'),
      ], category='queue'),
      lib.group('slo-whatsapp', [
        whatsappBurn('WhatsAppAPIErrorBudgetBurnFast', 'fast'),
        whatsappBurn('WhatsAppAPIErrorBudgetBurnSlow', 'slow'),
      ], category='whatsapp'),
    ],
  },
}
