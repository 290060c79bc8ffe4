// A small Grafana library of our own (Grafonnet is not on the package registries).
// Panels are plain objects with a width and height; dashboard() flows them onto the
// 24-column grid left to right, numbers them, and adds what every dashboard shares:
// datasource variable, tags, links, time zone. Nothing here names a data source: panels
// point at the `${datasource}` (Prometheus) or `${loki}` variable.
local queries = import 'queries.libsonnet';

{
  local prom = { type: 'prometheus', uid: '${datasource}' },
  local loki = { type: 'loki', uid: '${loki}' },

  // --- targets ---
  target(expr, legend='', instant=false, format='time_series'):: {
    datasource: prom,
    expr: expr,
    legendFormat: legend,
    instant: instant,
    range: !instant,
    format: format,
  },
  lokiTarget(expr, legend=''):: { datasource: loki, expr: expr, legendFormat: legend, queryType: 'range' },

  // --- panels ---
  // `description` is required: the panel's info tooltip tells on-call what it shows, in
  // which unit, from which source, and where an alert on the same signal fires
  // (tests/mixin/test_dashboards.py checks none is empty).
  local panel(type, title, targets, unit, w, h, description) = {
    type: type,
    title: title,
    description: description,
    datasource: if std.length(targets) > 0 then targets[0].datasource else prom,
    targets: [targets[i] { refId: std.char(65 + i) } for i in std.range(0, std.length(targets) - 1)],
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    gridPos: { w: w, h: h },
  },

  // thresholds: [[value or null, color], ...], the first with null (the base).
  local steps(thresholds) = {
    mode: 'absolute',
    steps: [{ value: t[0], color: t[1] } for t in thresholds],
  },

  timeseries(title, unit, targets, description, w=12, h=8, stack=false, bars=false)::
    panel('timeseries', title, targets, unit, w, h, description) {
      fieldConfig+: { defaults+: { custom: {
        drawStyle: if bars then 'bars' else 'line',
        fillOpacity: if stack || bars then 60 else 10,
        stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
        showPoints: 'never',
      } } },
      options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi', sort: 'desc' } },
    },

  stat(title, unit, targets, description, w=6, h=4, thresholds=[[null, 'green']], timeFrom=null)::
    panel('stat', title, targets, unit, w, h, description) {
      fieldConfig+: { defaults+: { thresholds: steps(thresholds) } },
      options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' },
      // 'now/d': "today so far", whatever range the dashboard shows.
      [if timeFrom != null then 'timeFrom']: timeFrom,
    },

  gauge(title, unit, min, max, thresholds, targets, description, w=6, h=8)::
    panel('gauge', title, targets, unit, w, h, description) {
      fieldConfig+: { defaults+: { min: min, max: max, thresholds: steps(thresholds) } },
      options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, showThresholdMarkers: true },
    },

  bargauge(title, unit, targets, description, w=12, h=8, timeFrom=null)::
    panel('bargauge', title, targets, unit, w, h, description) {
      options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, orientation: 'horizontal', displayMode: 'gradient' },
      [if timeFrom != null then 'timeFrom']: timeFrom,
    },

  // One row per series, coloured by state over time; `mappings` name and colour the
  // values (valueMappings below). A series is a thing (a number, an instance).
  stateTimeline(title, targets, mappings, description, w=12, h=8)::
    panel('state-timeline', title, targets, 'short', w, h, description) {
      fieldConfig+: { defaults+: { mappings: mappings, color: { mode: 'thresholds' }, custom: { fillOpacity: 80, lineWidth: 0 } } },
      options: { mergeValues: true, showValue: 'auto', alignValue: 'left', rowHeight: 0.9, legend: { showLegend: false }, tooltip: { mode: 'single' } },
    },

  // Instant queries as rows (target(..., instant=true, format='table')). `hidden`: columns
  // not shown (Prometheus adds Time, and Value when the labels say it all); `overrides`
  // per column, e.g. column('status', mappings, colour=true).
  table(title, targets, description, unit='short', w=12, h=8, hidden=['Time'], overrides=[], sortBy=[])::
    panel('table', title, targets, unit, w, h, description) {
      fieldConfig+: { overrides: overrides },
      options: { showHeader: true, cellHeight: 'sm', footer: { show: false }, sortBy: sortBy },
      transformations: [{ id: 'organize', options: { excludeByName: { [c]: true for c in hidden } } }],
    },
  // A table column (matched by the name Prometheus gives it: the label, or `Value`).
  column(name, mappings=[], displayName=null, colour=false):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: 'mappings', value: mappings }]
                + (if displayName == null then [] else [{ id: 'displayName', value: displayName }])
                + (if colour then [{ id: 'custom.cellOptions', value: { type: 'color-background' } }] else []),
  },
  // A series' display name: `{{code}}` in a legend becomes "131026 Message undeliverable".
  seriesName(name, displayName):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: 'displayName', value: displayName }],
  },

  // Value mappings: {'1': ['open', 'green'], ...} -> Grafana's `value` mapping; and a
  // `range` mapping [from, to] -> text.
  valueMappings(values)::
    local keys = std.objectFields(values);
    [{
      type: 'value',
      options: {
        [keys[i]]: { text: values[keys[i]][0], index: i }
                   + (if std.length(values[keys[i]]) > 1 then { color: values[keys[i]][1] } else {})
        for i in std.range(0, std.length(keys) - 1)
      },
    }],
  rangeMapping(from, to, text):: { type: 'range', options: { from: from, to: to, result: { text: text, index: 0 } } },

  // A horizontal band of panels with a title (pure layout: no query, no description).
  row(title):: { type: 'row', title: title, collapsed: false, panels: [], gridPos: { w: 24, h: 1 } },

  // A Prometheus histogram as a heatmap: one row per bucket (`le`), counts per interval.
  heatmap(title, target, unit, description, w=12, h=8)::
    panel('heatmap', title, [target { format: 'heatmap', legendFormat: '{{le}}' }], unit, w, h, description) {
      options: {
        calculate: false,
        yAxis: { unit: unit },
        color: { mode: 'scheme', scheme: 'Oranges', steps: 64 },
        cellGap: 1,
        rowsFrame: { layout: 'auto' },
      },
    },

  logs(title, targets, description, w=24, h=12)::
    panel('logs', title, targets, '', w, h, description) {
      options: { showTime: true, wrapLogMessage: true, sortOrder: 'Descending', enableLogDetails: true },
    },

  // Markdown text (links to the other dashboards on the overview).
  text(title, content, description, w=24, h=4)::
    panel('text', title, [], '', w, h, description) { options: { mode: 'markdown', content: content } },

  // --- template variables ---
  datasourceVariable(cfg):: {
    name: 'datasource',
    label: 'Prometheus',
    type: 'datasource',
    query: 'prometheus',
    current: { text: cfg.datasources.prometheus, value: cfg.datasources.prometheus },
    hide: 0,
    refresh: 1,
  },
  lokiVariable(cfg):: self.datasourceVariable(cfg) {
    name: 'loki',
    label: 'Loki',
    query: 'loki',
    current: { text: cfg.datasources.loki, value: cfg.datasources.loki },
  },
  // A variable filled from label values; multi-select with "All" (regex `.*`).
  queryVariable(name, label, query, ds='prom'):: {
    name: name,
    label: label,
    type: 'query',
    datasource: if ds == 'prom' then prom else loki,
    query: query,
    definition: query,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { text: 'All', value: '$__all' },
    sort: 1,
    hide: 0,
  },

  // `$instance`: the exporter replicas; instanceSelector() narrows a query to them.
  instanceVariable(cfg):: self.queryVariable('instance', 'Exporter', queries.exporterInstances(cfg)),

  // A fixed list of values (e.g. log components, which Loki only knows after parsing).
  customVariable(name, label, values):: {
    name: name,
    label: label,
    type: 'custom',
    query: std.join(',', values),
    options: [{ text: v, value: v, selected: false } for v in values],
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { text: 'All', value: '$__all' },
    hide: 0,
  },

  // Place panels left to right, wrapping at 24 columns; a new row starts below the
  // tallest panel of the row above. Panel ids follow the order (alerts link to them).
  local flow(panels) =
    std.foldl(
      function(acc, p)
        local wrap = acc.x + p.gridPos.w > 24;
        local x = if wrap then 0 else acc.x;
        local y = if wrap then acc.y + acc.rowH else acc.y;
        {
          x: x + p.gridPos.w,
          y: y,
          rowH: if wrap then p.gridPos.h else std.max(acc.rowH, p.gridPos.h),
          out: acc.out + [p { id: std.length(acc.out) + 1, gridPos+: { x: x, y: y } }],
        },
      panels,
      { x: 0, y: 0, rowH: 0, out: [] },
    ).out,

  // key: the dashboard's key in cfg.dashboardUids (its uid and its file name).
  dashboard(cfg, key, title, panels, variables=[], refresh=cfg.dashboardRefresh, loki=false, time='now-6h'):: {
    id: null,
    uid: cfg.dashboardUids[key],
    title: title,
    tags: cfg.dashboardTags,
    timezone: cfg.dashboardTimezone,
    refresh: refresh,
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    time: { from: time, to: 'now' },
    // Every anclora dashboard links to all the others through the shared tag.
    links: [{
      title: 'Anclora dashboards',
      type: 'dashboards',
      tags: [cfg.dashboardTags[0]],
      asDropdown: true,
      includeVars: true,
      keepTime: true,
    }],
    templating: { list: [if loki then $.lokiVariable(cfg) else $.datasourceVariable(cfg)] + variables },
    annotations: { list: [] },
    panels: flow(panels),
  },
}
