// WhatsApp API: calls, latency percentiles, errors, rate limits, webhooks, instances (the
// app's view); then what the platform itself reports in its webhooks (issue 12): the
// delivery funnel, failures by Meta error code, estimated cost, number quality and
// messaging limit, instance connections, templates, and the webhook intake.
local g = import '../lib/dashboard.libsonnet';
local queries = import '../lib/queries.libsonnet';
local meanings = import '../lib/meta_error_codes.json';

{
  grafanaDashboards+:: {
    local c = $._config,
    local v = c { sel: queries.instanceSelector(c.exporterSelector) },
    local q(p) = g.target(queries.histogramQuantile(c, p, 'whatsapp_api_latency_seconds', v.sel), 'p%d' % (p * 100)),
    // These helpers concatenate rather than format: jsonnet's `%` costs about a millisecond
    // a call, and they run for every query and every error code.
    local m(name, extra='') = c.ns + '_' + name + '{' + v.sel + (if extra == '' then '' else ', ' + extra) + '}',
    local statuses(status) = m('whatsapp_message_statuses_total', 'status="' + status + '"'),
    // Counts over the panel's range, or over a fixed window (the alerts' own view).
    local over(selector, window='$__range') = 'sum(increase(' + selector + '[' + window + ']))',
    local share(num, den, window='$__range') = over(statuses(num), window) + ' / ' + over(statuses(den), window),
    local sumRate(selector) = 'sum(rate(' + selector + '[$__rate_interval]))',
    local rateBy(by, selector) = 'sum by (' + by + ') (rate(' + selector + '[$__rate_interval]))',
    // 0 rather than "No data" for counters of rare events (`on ()`: no extra 0 series
    // beside real ones).
    local orZero(expr) = expr + ' or on () vector(0)',
    local codeName(code) = code + ' ' + meanings[code],
    local alertsOn = '%g%% of its %s share' % [c.whatsappDeliveryDropRatio * 100, c.whatsappDeliveryBaseline],

    whatsapp: g.dashboard(c, 'whatsapp', 'Anclora / WhatsApp API', variables=[
      g.instanceVariable(c),
    ], panels=[
      g.timeseries('API calls by status', 'reqps', description='Calls to the WhatsApp API per second, stacked by HTTP status code, reported by the app as events.', stack=true, targets=[
        g.target('sum by (status_code) (rate(%(ns)s_whatsapp_api_calls_total{%(sel)s}[$__rate_interval]))' % v, '{{status_code}}'),
      ]),
      g.timeseries('API latency', 's', targets=[q(0.5), q(0.95), q(0.99)],
                   description='p50, p95, p99 latency (seconds) of WhatsApp API calls, reported by the app; HighWhatsAppAPILatency warns when p95 > %gs for %s.' % [c.whatsappLatencyWarningSeconds, c.whatsappLatencyWarningFor]),
      g.timeseries('Errors by status code', 'reqps', targets=[
        g.target('sum by (status_code, endpoint) (rate(%(ns)s_whatsapp_api_calls_total{%(sel)s, status_code!~"2.."}[$__rate_interval]))' % v, '{{status_code}} {{endpoint}}'),
      ], description='Every non-2xx answer of the WhatsApp API per second, by status and endpoint, reported by the app; WhatsAppAPIErrors warns on status %s above %g/s for %s; WhatsAppAPIErrorBudgetBurnFast (page) and WhatsAppAPIErrorBudgetBurnSlow (ticket) fire when errors spend the error budget of the API too fast.' % [c.whatsappServerErrorStatus, c.whatsappErrorRateWarning, c.whatsappErrorRateWarningFor]),
      g.timeseries('Rate-limit hits', 'suffix: /s', description='Rate-limit responses per second, by instance: reported by the app, and Meta failures 130429 (throughput), 131048 (spam) and 131056 (pair rate limit) from the status webhooks; WhatsAppThroughputLimited informs on any hit in %s, WhatsAppRateLimitHit warns above %g/s for %s.' % [c.whatsappRateLimitAnyWindow, c.whatsappRateLimitWarning, c.whatsappRateLimitWarningFor], targets=[
        g.target('sum by (instance_name) (rate(%(ns)s_whatsapp_rate_limit_hits_total{%(sel)s}[$__rate_interval]))' % v, '{{instance_name}}'),
      ]),
      g.timeseries('Webhooks received', 'suffix: /s', description='Webhooks received per second, by event type (Meta `field`, Evolution `event`), taken by the exporter or reported by the app; WhatsAppWebhooksStopped warns when none arrives for %s (plus %s) while messages are sent.' % [c.whatsappWebhooksStoppedWindow, c.whatsappWebhooksStoppedFor], stack=true, targets=[
        g.target('sum by (event_type) (rate(%(ns)s_whatsapp_webhooks_received_total{%(sel)s}[$__rate_interval]))' % v, '{{event_type}}'),
      ]),
      g.stat('Active instances', 'short', description='WhatsApp instances (numbers/sessions) connected, reported by the app or counted from Evolution connection webhooks; NoActiveInstances pages after %s below 1.' % c.noInstancesFor, w=12, h=8, thresholds=[[null, 'red'], [1, 'green']], targets=[
        g.target('max(%(ns)s_whatsapp_active_instances{%(sel)s})' % v),
      ]),

      g.row("Delivery (the platform's status webhooks)"),
      g.bargauge('Delivery funnel', 'percentunit', w=8, targets=[
        g.target(share('delivered', 'sent'), 'delivered', instant=true),
        g.target(share('read', 'sent'), 'read', instant=true),
        g.target(share('failed', 'sent'), 'failed', instant=true),
      ], description='Messages delivered, read and failed as a share of those sent over the dashboard time range, from the message status webhooks (Meta statuses, Evolution messages.update), each status counted once per message.'),
      g.timeseries('Delivery and read ratios', 'percentunit', w=16, targets=[
        g.target('%s / %s' % [sumRate(statuses('delivered')), sumRate(statuses('sent'))], 'delivered / sent'),
        g.target('%s / %s' % [sumRate(statuses('read')), sumRate(statuses('delivered'))], 'read / delivered'),
        g.target(share('delivered', 'sent', c.whatsappDeliveryWindow), 'delivered / sent, last %s' % c.whatsappDeliveryWindow),
        g.target('%g * (%s)' % [c.whatsappDeliveryDropRatio, share('delivered', 'sent', c.whatsappDeliveryBaseline)], 'alert below'),
      ], description='Delivered / sent and read / delivered status updates (ratio), from the status webhooks. WhatsAppDeliveryRatioFalling warns when delivered / sent over the last %s stays under %s (the "alert below" line) for %s.' % [c.whatsappDeliveryWindow, alertsOn, c.whatsappDeliveryFor]),
      g.timeseries('Message statuses', 'suffix: msg/s', stack=true, targets=[
        g.target(rateBy('status', m('whatsapp_message_statuses_total')), '{{status}}'),
      ], description='Status updates per second (sent, delivered, read, failed), stacked, from the status webhooks; a retried or duplicated webhook is counted once.'),
      g.timeseries('Billable messages', 'suffix: msg/s', targets=[
        g.target(rateBy('category, pricing_model', m('whatsapp_billable_messages_total')), '{{category}} ({{pricing_model}})'),
      ], description="Billable messages per second by Meta pricing category and pricing model (CBP per conversation, PMP per message), from the statuses' pricing object."),

      g.row('Failures by Meta error code'),
      g.timeseries('Failures by error code', 'suffix: msg/s', targets=[
        g.target(rateBy('error_code', m('whatsapp_message_failures_total')), '{{error_code}}'),
      ], description="Failed messages per second by Meta error code, the code's meaning in the legend (Meta's Cloud API error codes), from the failed status webhooks. WhatsAppFailureCodeSpike warns when %s make more than %g%% of the messages sent or failed over %s, for %s." % [std.join(', ', c.whatsappSpikeCodes), c.whatsappSpikeRatio * 100, c.whatsappSpikeWindow, c.whatsappSpikeFor]) {
        fieldConfig+: { overrides: [g.seriesName(code, codeName(code)) for code in std.objectFields(meanings)] },
      },
      g.table('Failures by error code (range)', w=12, targets=[
        g.target('sum by (error_code) (increase(%s[$__range])) > 0' % m('whatsapp_message_failures_total'), instant=true, format='table'),
      ], overrides=[
        g.column('error_code', g.valueMappings({ [code]: [codeName(code)] for code in std.objectFields(meanings) }), 'Error code'),
        g.column('Value', displayName='Failures'),
      ], sortBy=[{ displayName: 'Failures', desc: true }],
      description="Failed messages over the dashboard time range by Meta error code, with the code's meaning, most frequent first, from the failed status webhooks."),

      g.row('Estimated cost (EUR)'),
      g.bargauge('Estimated cost today', 'currencyEUR', timeFrom='now/d', targets=[
        g.target('sum by (category) (increase(%s[$__range]))' % m('whatsapp_estimated_cost_euros_total'), '{{category}}', instant=true),
        g.target(over(m('whatsapp_estimated_cost_euros_total')), 'total', instant=true),
      ], description='Estimated spend since midnight (EUR) by Meta pricing category: billable messages times the rate card ANCLORA_META_RATES. An estimate: Meta bills by its own clock and currency.'),
      g.bargauge('Estimated cost this month', 'currencyEUR', timeFrom='now/M', targets=[
        g.target('sum by (category) (increase(%s[$__range]))' % m('whatsapp_estimated_cost_euros_total'), '{{category}}', instant=true),
        g.target(over(m('whatsapp_estimated_cost_euros_total')), 'total', instant=true),
      ], description="Estimated spend since the 1st of the month (EUR) by Meta pricing category, as 'Estimated cost today'. Needs a month of Prometheus retention (PROMETHEUS_RETENTION, 15d by default): with less, it counts only what is kept."),

      g.row('Numbers and instances'),
      g.stateTimeline('Quality rating', targets=[
        // One row per number: GREEN 3, YELLOW 2, RED 1, UNKNOWN 0.
        g.target('max by (instance_name) (%s)' % std.join(' or ', [
          '(%s == 1) * 0 + %d' % [m('whatsapp_quality_rating', 'rating="%s"' % r[0]), r[1]]
          for r in [['GREEN', 3], ['YELLOW', 2], ['RED', 1], ['UNKNOWN', 0]]
        ]), '{{instance_name}}'),
      ], mappings=g.valueMappings({ '3': ['GREEN', 'green'], '2': ['YELLOW', 'yellow'], '1': ['RED', 'red'], '0': ['UNKNOWN', 'text'] }),
      description="Each number's quality rating over time (GREEN, YELLOW, RED), polled from the Graph API when ANCLORA_META_ACCESS_TOKEN is set. WhatsAppQualityDegraded warns while a number is %s." % c.whatsappQualityBadRatings),
      g.stat('Messaging limit', 'short', targets=[
        // TIER_UNLIMITED is +Inf: shown as "unlimited".
        g.target('clamp_max(max by (instance_name) (%s), 1e12)' % m('whatsapp_messaging_limit'), '{{instance_name}}'),
      ], description="Business-initiated conversations each number may open a day, from phone_number_quality_update webhooks (or the Graph API poll). WhatsAppMessagingLimitLowered warns when it is below its highest value of the last %s." % c.whatsappMessagingLimitLookback, w=6, h=8) {
        fieldConfig+: { defaults+: { mappings: [g.rangeMapping(1e12, 1e12, 'unlimited')] } },
      },
      g.stat('Flagged numbers', 'short', w=6, h=8, thresholds=[[null, 'green'], [1, 'red']], targets=[
        g.target(orZero('count(max by (instance_name) (%s) == 1)' % m('whatsapp_quality_flagged'))),
      ], description='Numbers whose quality Meta has flagged (count), from phone_number_quality_update webhooks; WhatsAppNumberFlagged warns for each.'),
      g.stateTimeline('Instance connection', targets=[
        g.target('max by (instance_name) (%s)' % m('whatsapp_instance_connected'), '{{instance_name}}'),
      ], mappings=g.valueMappings({ '1': ['open', 'green'], '0': ['not open', 'red'] }),
      description='Each Evolution instance: open (connected) or not (connecting, close) over time, from connection.update webhooks. WhatsAppInstanceDisconnected warns after %s not open; NoActiveInstances pages when none is.' % c.whatsappInstanceDisconnectedFor),
      g.timeseries('QR codes requested', 'short', bars=true, targets=[
        g.target(orZero('sum by (instance_name) (increase(%s[$__rate_interval]))' % m('whatsapp_qr_required_total')), '{{instance_name}}'),
      ], description='QR codes Evolution instances asked to be scanned (count per interval), from qrcode.updated webhooks: the session is logged out. WhatsAppInstanceQRRequired warns when one asks within %s and stays not open for %s.' % [c.whatsappQrWindow, c.whatsappQrFor]),

      g.row('Templates and webhook intake'),
      g.table('Template status', w=12, hidden=['Time', 'Value'], targets=[
        g.target('max by (template, status) (%s == 1)' % m('whatsapp_template_status'), instant=true, format='table'),
      ], overrides=[
        g.column('status', g.valueMappings({
          APPROVED: ['APPROVED', 'green'],
          PENDING: ['PENDING', 'blue'],
          PAUSED: ['PAUSED', 'orange'],
          REJECTED: ['REJECTED', 'red'],
          DISABLED: ['DISABLED', 'red'],
        }), colour=true),
      ], sortBy=[{ displayName: 'status', desc: false }],
      description="Each message template's current status (APPROVED, PAUSED, REJECTED...), from message_template_status_update webhooks. WhatsAppTemplateBlocked warns on %s." % c.whatsappTemplateBadStatuses),
      g.timeseries('Webhook intake', 'suffix: /s', targets=[
        g.target(sumRate(m('whatsapp_webhooks_received_total')), 'received'),
        g.target(orZero(rateBy('source', m('exporter_webhook_duplicates_total'))), 'duplicate ({{source}})'),
        g.target(orZero(rateBy('source, reason', m('exporter_webhook_ignored_total'))), 'ignored ({{source}}: {{reason}})'),
        g.target(orZero(sumRate(m('exporter_events_rejected_total', 'reason=~"%s"' % c.webhookAuthFailureReasons))), 'bad signature'),
      ], description='Webhooks per second: received (verified), duplicates (a platform retry, or a copy another replica counted), ignored (unknown field or event, counted and answered 200) and refused for a bad or missing signature, from the exporter. WhatsAppWebhookSignaturesFailing warns on any refusal sustained for %s.' % c.webhookAuthFailureFor),
      g.timeseries('Webhooks by number', 'suffix: /s', targets=[
        g.target(rateBy('instance_name', m('whatsapp_webhooks_received_total')), '{{instance_name}}'),
      ], description='Webhooks received per second by number (Meta phone_number_id, Evolution instance).'),
      g.timeseries('Forwarded to the app', 'suffix: /s', targets=[
        g.target(orZero(rateBy('result', m('exporter_webhook_forwards_total'))), '{{result}}'),
      ], description='Verified Meta webhooks the exporter forwarded to ANCLORA_META_FORWARD_URL per second, by result (ok, rejected, failed, busy); 0 when forwarding is off. WhatsAppWebhookForwardsFailing pages when more than %g%% are not ok for %s.' % [c.webhookForwardFailureRatio * 100, c.webhookForwardFailureFor]),
    ]),
  },
}
