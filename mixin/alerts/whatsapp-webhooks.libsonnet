// WhatsApp as the platform itself reports it in its webhooks (Meta Cloud API, Evolution
// API; issue 12): delivery, failures by Meta error code, rate limits, number quality and
// messaging limit, instance connections, templates, and the webhook intake itself.
//
// Every state gauge here is set by a webhook (or the Graph API poll); every replica is
// expected to publish the same value, so gauges are collapsed with max, counters summed.
// Nothing fires without series: each expression needs the metric it watches.
local lib = import '../lib/alerts.libsonnet';
local queries = import '../lib/queries.libsonnet';
local meanings = import '../lib/meta_error_codes.json';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name) = '%s_%s{%s}' % [c.ns, name, c.exporterSelector],
    local statuses(status) = '%s_whatsapp_message_statuses_total{%s, status=~"%s"}' % [c.ns, c.exporterSelector, status],

    // delivered/sent over `window`; 0 (not absent) when nothing was delivered at all.
    local deliveryRatio(window) =
      '(sum(rate(%s[%s])) or vector(0))\n/\nsum(rate(%s[%s]))' % [statuses('delivered'), window, statuses('sent'), window],
    // Messages that reached Meta's verdict: a sent status, or a failure (a message that
    // fails at once has no sent status).
    local attempts = 'sum(rate(%s[%s]))' % [statuses('sent|failed'), c.whatsappSpikeWindow],
    // ": Message undeliverable" after the code in an annotation, from the code's label.
    local codeMeaning = std.join('', [
      '{{ if eq $labels.error_code "%s" }}: %s{{ end }}' % [code, meanings[code]]
      for code in c.whatsappSpikeCodes
    ]),
    local qrAsked = '%s > 0' % queries.eventsIn(c, 'whatsapp_qr_required_total', c.whatsappQrWindow, 'instance_name'),
    local connected = 'max by (instance_name) (%s)' % m('whatsapp_instance_connected'),
    local sendingRate(w) = |||
      sum(rate(%(ns)s_analytics_messages_sent_total{%(exporterSelector)s}[%(w)s])) > %(minSentRate)g
      or
      sum(rate(%(ns)s_queue_messages_processed_total{%(exporterSelector)s, queue=~"%(whatsappSendQueues)s"}[%(w)s])) > %(minSentRate)g
    ||| % (c { w: w }),

    groups+: [lib.group('whatsapp-webhooks', category='whatsapp', rules=[
      lib.alert(
        'WhatsAppDeliveryRatioFalling', 'warning', subject='whatsapp-delivery-ratio', dependsOn='exporter', forDuration=c.whatsappDeliveryFor,
        dashboard='whatsapp', panel='Delivery and read ratios',
        // Against its own baseline: teams differ (a marketing list delivers less than
        // replies do), a fall is what matters. Only while messages are sent.
        expr=|||
          (
          %(now)s
          )
          < %(drop)g * (
          %(usual)s
          )
          and on ()
          sum(rate(%(sent)s[%(w)s])) > %(minSentRate)g
        ||| % (c {
          now: deliveryRatio(c.whatsappDeliveryWindow),
          usual: deliveryRatio(c.whatsappDeliveryBaseline),
          drop: c.whatsappDeliveryDropRatio,
          sent: statuses('sent'),
          w: c.whatsappDeliveryWindow,
        }),
        summary='Fewer WhatsApp messages are delivered than usual.',
        description='{{ $value | humanizePercentage }} of the messages sent in the last %s were delivered, under %g%% of the share over the last %s (Meta status webhooks).' % [c.whatsappDeliveryWindow, c.whatsappDeliveryDropRatio * 100, c.whatsappDeliveryBaseline],
      ),
      lib.alert(
        'WhatsAppFailureCodeSpike', 'warning', subject='whatsapp-failure-codes', dependsOn='exporter', forDuration=c.whatsappSpikeFor,
        dashboard='whatsapp', panel='Failures by error code',
        expr=|||
          sum by (error_code) (rate(%(failures)s[%(whatsappSpikeWindow)s]))
          / on () group_left
          %(attempts)s
          > %(whatsappSpikeRatio)g
          and on ()
          %(attempts)s > %(minSentRate)g
        ||| % (c {
          failures: '%s_whatsapp_message_failures_total{%s, error_code=~"%s"}' % [c.ns, c.exporterSelector, std.join('|', c.whatsappSpikeCodes)],
          attempts: attempts,
        }),
        summary='WhatsApp messages fail with Meta error {{ $labels.error_code }}%s.' % codeMeaning,
        description='{{ $value | humanizePercentage }} of the messages sent or failed in the last %s failed with Meta error {{ $labels.error_code }} (threshold %g%%).' % [c.whatsappSpikeWindow, c.whatsappSpikeRatio * 100],
      ),
      lib.alert(
        'WhatsAppThroughputLimited', 'info', subject='whatsapp-rate-limit', dependsOn='exporter',
        dashboard='whatsapp', panel='Rate-limit hits',
        expr='%s > %s' % [queries.eventsIn(c, 'whatsapp_rate_limit_hits_total', c.whatsappRateLimitAnyWindow, 'instance_name'), lib.number(c.whatsappRateLimitAnyHits)],
        summary='WhatsApp rate-limits {{ $labels.instance_name }}.',
        description='{{ $labels.instance_name }} was rate-limited {{ printf "%%.0f" $value }} times in the last %s (Meta 130429 throughput, 131048 spam, 131056 pair rate limit, or the app reporting a hit); messages wait or fail meanwhile.' % c.whatsappRateLimitAnyWindow,
      ),
      lib.alert(
        'WhatsAppNumberFlagged', 'warning', subject='whatsapp-number-flagged', dependsOn='exporter',
        dashboard='whatsapp', panel='Flagged numbers',
        expr='max by (instance_name) (%s) == 1' % m('whatsapp_quality_flagged'),
        summary='Meta flagged WhatsApp number {{ $labels.instance_name }}.',
        description='Meta flagged the quality of number {{ $labels.instance_name }}: unless quality recovers within 7 days, its messaging limit goes down.',
      ),
      lib.alert(
        'WhatsAppQualityDegraded', 'warning', subject='whatsapp-quality', dependsOn='exporter',
        dashboard='whatsapp', panel='Quality rating',
        expr='max by (instance_name, rating) (%s_whatsapp_quality_rating{%s, rating=~"%s"}) == 1' % [c.ns, c.exporterSelector, c.whatsappQualityBadRatings],
        summary='WhatsApp number {{ $labels.instance_name }} has quality {{ $labels.rating }}.',
        description="Meta rates the quality of number {{ $labels.instance_name }} {{ $labels.rating }} (from GREEN): recipients block or report its messages. A low rating gets the number flagged and its messaging limit lowered.",
      ),
      lib.alert(
        'WhatsAppMessagingLimitLowered', 'warning', subject='whatsapp-messaging-limit', dependsOn='exporter',
        dashboard='whatsapp', panel='Messaging limit',
        expr=|||
          max by (instance_name) (%(limit)s)
          < max by (instance_name) (max_over_time(%(limit)s[%(whatsappMessagingLimitLookback)s]))
        ||| % (c { limit: m('whatsapp_messaging_limit') }),
        summary='Meta lowered the messaging limit of {{ $labels.instance_name }}.',
        description='Number {{ $labels.instance_name }} may now open {{ $value | humanize }} business-initiated conversations a day, less than within the last %s.' % c.whatsappMessagingLimitLookback,
      ),
      lib.alert(
        'WhatsAppInstanceDisconnected', 'warning', subject='whatsapp-instance-connection', dependsOn='exporter', forDuration=c.whatsappInstanceDisconnectedFor,
        dashboard='whatsapp', panel='Instance connection',
        // An instance asking for a QR code has its own, more precise alert. NoActiveInstances
        // (critical) covers every instance down at once.
        expr='%s == 0\nunless on (instance_name)\n(%s)' % [connected, qrAsked],
        summary='Evolution instance {{ $labels.instance_name }} is disconnected.',
        description='Evolution instance {{ $labels.instance_name }} has not been connected (state open) for %s: its number sends and receives nothing.' % c.whatsappInstanceDisconnectedFor,
      ),
      lib.alert(
        'WhatsAppInstanceQRRequired', 'warning', subject='whatsapp-instance-qr', dependsOn='exporter', forDuration=c.whatsappQrFor,
        dashboard='whatsapp', panel='QR codes requested',
        expr='%s\nunless on (instance_name)\n%s == 1' % [qrAsked, connected],
        summary='Evolution instance {{ $labels.instance_name }} asks for a QR code.',
        description='Evolution instance {{ $labels.instance_name }} asked for {{ printf "%%.0f" $value }} QR codes in the last %s and is not connected: the WhatsApp session is logged out until someone scans the code.' % c.whatsappQrWindow,
      ),
      lib.alert(
        'WhatsAppTemplateBlocked', 'warning', subject='whatsapp-template', dependsOn='exporter',
        dashboard='whatsapp', panel='Template status',
        expr='max by (template, status) (%s_whatsapp_template_status{%s, status=~"%s"}) == 1' % [c.ns, c.exporterSelector, c.whatsappTemplateBadStatuses],
        summary='WhatsApp template {{ $labels.template }} is {{ $labels.status }}.',
        description='Meta set message template {{ $labels.template }} to {{ $labels.status }}: messages sent with it fail (132015 paused, 132016 disabled) or it cannot be used at all.',
      ),
      lib.alert(
        'WhatsAppWebhooksStopped', 'warning', subject='whatsapp-webhooks', dependsOn='exporter', forDuration=c.whatsappWebhooksStoppedFor,
        dashboard='whatsapp', panel='Webhooks received',
        expr=|||
          (sum(increase(%(received)s[%(whatsappWebhooksStoppedWindow)s])) or vector(0)) == 0
          and on ()
          (
          %(sending)s)
          and on ()
          sum(increase(%(received)s[%(whatsappWebhooksLookback)s])) > 0
        ||| % (c { received: m('whatsapp_webhooks_received_total'), sending: sendingRate(c.whatsappWebhooksStoppedWindow) }),
        summary='No WhatsApp webhook arrives while messages are sent.',
        description='No webhook from Meta or Evolution reached the exporter for %s while messages are being sent, after webhooks within the last %s: delivery, failure, cost and quality metrics are blind.' % [c.whatsappWebhooksStoppedWindow, c.whatsappWebhooksLookback],
      ),
      lib.alert(
        'WhatsAppWebhookSignaturesFailing', 'warning', subject='webhook-signatures', dependsOn='exporter', forDuration=c.webhookAuthFailureFor,
        dashboard='whatsapp', panel='Webhook intake',
        expr='sum(rate(%s_exporter_events_rejected_total{%s, reason=~"%s"}[%s])) > %s' % [c.ns, c.exporterSelector, c.webhookAuthFailureReasons, c.rateWindow, lib.number(c.webhookAuthFailureRate)],
        summary='Webhooks fail their signature check.',
        description='{{ printf "%%.2f" $value }} webhooks per second have been refused for a bad or missing signature for %s: a wrong ANCLORA_META_APP_SECRET (every real webhook lost) or someone probing the endpoint.' % c.webhookAuthFailureFor,
      ),
      lib.alert(
        'WhatsAppWebhookForwardsFailing', 'critical', subject='webhook-forwards', dependsOn='exporter', forDuration=c.webhookForwardFailureFor,
        dashboard='whatsapp', panel='Forwarded to the app',
        // Only with forwarding on: no forward at all leaves the ratio absent.
        expr=|||
          sum(rate(%(fwd)s{%(exporterSelector)s, result!="ok"}[%(rateWindow)s]))
          /
          sum(rate(%(fwd)s{%(exporterSelector)s}[%(rateWindow)s]))
          > %(webhookForwardFailureRatio)g
        ||| % (c { fwd: c.ns + '_exporter_webhook_forwards_total' }),
        summary='The app does not take the webhooks the exporter forwards.',
        description='{{ $value | humanizePercentage }} of the Meta webhooks forwarded to ANCLORA_META_FORWARD_URL have not been taken by the app for %s: Meta keeps retrying them, but the bot receives no customer message until the app answers again.' % c.webhookForwardFailureFor,
      ),
    ])],
  },
}
