"""The text exposition format (0.0.4) of a registry: prometheus_client's ``generate_latest``
output, byte for byte, in about half its time at 10,000 series.

What generate_latest spends most of its time on is the same for every scrape: each
sample's name and label set, escaped, sorted and joined. ``Renderer`` keeps that part of
each line (``name{labels}``) from one scrape to the next, keyed by the sample's name and
labels as the collector gave them, so a scrape formats only the values; the kept parts are
those of the last scrape only (series that went away are dropped with it). Samples with a
timestamp, non-float values and floats that are not plain decimals (infinite, NaN,
1e6 or more in size) take prometheus_client's own formatting.

A collector that knows its series in advance can go further and bring its sample lines
already formatted (``TextFamily``, with ``line_prefix`` and ``value_text`` from here):
the renderer writes them as they are. Their ``samples`` are still there for anything else
that reads the family (prometheus_client's own exposition, tests), made on first use.
``tests/test_exposition_writer.py`` compares the outputs.
"""

from __future__ import annotations

import math
import threading

from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .fastpath import prometheus as fastpath_prometheus
from .fastpath.prometheus import escape_label_value

_ESCAPING = openmetrics.UNDERSCORES
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
          "unknown": "untyped"}
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_INF, _MINUS_INF = math.inf, -math.inf


def line_prefix(name: str, labels: dict) -> str:
    """``name{labels}`` as generate_latest writes it (legacy names, underscore escaping)."""
    name = openmetrics.escape_metric_name(name, _ESCAPING)
    if not labels:
        return name
    pairs = ",".join('{}="{}"'.format(openmetrics.escape_label_name(k, _ESCAPING),
                                      escape_label_value(v))
                     for k, v in sorted(labels.items()))
    return f"{name}{{{pairs}}}"


def value_text(v) -> str:
    """floatToGoString for the usual case (finite, not huge), the original for the rest."""
    if v.__class__ is float and v == v and v != _INF and v != _MINUS_INF and -1e6 < v < 1e6:
        return repr(v)  # what floatToGoString returns for these
    return floatToGoString(v)


class TextFamily(Metric):
    """A family whose sample lines its collector formatted (``name{labels} value``, one per
    line, as ``line_prefix`` and ``value_text`` write them; no ``_created`` or other
    OpenMetrics-only samples). ``samples`` are made by
    ``make_samples()`` on first use, and render to exactly ``lines``: the collector's tests
    compare the two."""

    def __init__(self, empty: Metric, lines: str, make_samples):
        # Metric.__init__ would assign ``samples``, here a property: copy what it sets.
        self.name, self.documentation = empty.name, empty.documentation
        self.unit, self.type = empty.unit, empty.type
        self.lines = lines
        self._make_samples, self._samples = make_samples, None

    @property
    def samples(self) -> list:
        if self._samples is None:
            self._samples = self._make_samples()
        return self._samples


class MetricLines:
    """The sample lines of a prometheus_client Counter, Gauge or Histogram, written from
    its children (``fastpath.prometheus.children``) rather than from the Sample objects
    its collect() makes, with each child's label text kept from one render to the next.
    None when the metric has not the shape the fast path reads: render its samples."""

    def __init__(self, metric):
        self.metric = metric
        self._text: dict[tuple, object] = {}  # label values -> label text of the child's lines

    def __call__(self) -> str | None:
        got = fastpath_prometheus.children(self.metric)
        if got is None:
            return None
        if len(self._text) > 2 * len(got.keys):  # children removed: forget their text
            self._text = {}
        texts, out = self._text, []
        append = out.append
        if got.kind != "histogram":
            name = got.name + "_total" if got.kind == "counter" else got.name
            for key, value in zip(got.keys, got.values):
                text = texts.get(key)
                if text is None:
                    text = texts[key] = line_prefix(name, dict(zip(got.labelnames, key))) + " "
                append(text)
                append(value_text(value.get()))
                append("\n")
            return "".join(out)
        with_sum = got.bounds[0] >= 0
        for key, child in zip(got.keys, got.values):
            text = texts.get(key)
            if text is None:
                text = texts[key] = self._histogram_text(got, key)
            buckets, total = fastpath_prometheus.histogram_counts(child)
            acc = 0.0
            for prefix, bucket in zip(text, buckets):  # cumulative, as collect() writes them
                acc += bucket.get()
                append(f"{prefix}{value_text(acc)}\n")
            append(f"{text[-2]}{value_text(acc)}\n")
            if with_sum:
                append(f"{text[-1]}{value_text(total.get())}\n")
        return "".join(out)

    @staticmethod
    def _histogram_text(got, key: tuple) -> tuple[str, ...]:
        labels = dict(zip(got.labelnames, key))
        return (*(line_prefix(got.name + "_bucket", {**labels, "le": floatToGoString(b)}) + " "
                  for b in got.bounds),
                line_prefix(got.name + "_count", labels) + " ",
                line_prefix(got.name + "_sum", labels) + " ")


class Renderer:
    """``render(registry) -> bytes``, as generate_latest(registry); one render at a time."""

    def __init__(self):
        self._prefixes: dict = {}  # sample name + repr(labels as given) -> 'name{labels}'
        self._lock = threading.Lock()

    def __call__(self, registry: Collector) -> bytes:
        with self._lock:
            return self._render(registry)

    def _render(self, registry: Collector) -> bytes:
        old, new = self._prefixes, {}
        output: list[str] = []
        append = output.append

        def line(s) -> str:
            if s.timestamp is not None:
                return _original_line(s)
            # A str key, not a tuple: tuples kept from one scrape to the next are
            # objects for the garbage collector, whose full passes then ran three times
            # as often and held the GIL ~20 ms each (the event loop waited).
            key = s.name + repr(s.labels)
            prefix = old.get(key)
            if prefix is None:
                prefix = line_prefix(s.name, s.labels)
            new[key] = prefix
            return f"{prefix} {value_text(s.value)}\n"

        for metric in registry.collect():
            try:
                mname, mtype = metric.name, metric.type
                if mtype == "counter":
                    mname += "_total"
                elif mtype == "info":
                    mname += "_info"
                mtype = _TYPES.get(mtype, mtype)
                doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
                escaped = openmetrics.escape_metric_name(mname, _ESCAPING)
                append(f"# HELP {escaped} {doc}\n")
                append(f"# TYPE {escaped} {mtype}\n")
                if isinstance(metric, TextFamily):
                    append(metric.lines)
                    continue
                om_samples: dict[str, list[str]] = {}
                special = {metric.name + suffix: suffix for suffix in _OM_SUFFIXES}
                for s in metric.samples:
                    suffix = special.get(s.name)
                    if suffix is None:
                        append(line(s))
                    else:  # OpenMetrics specific sample, put in a gauge at the end
                        om_samples.setdefault(suffix, []).append(line(s))
            except Exception as exception:
                exception.args = (exception.args or ("",)) + (metric,)
                raise
            for suffix, lines in sorted(om_samples.items()):
                name = openmetrics.escape_metric_name(metric.name + suffix, _ESCAPING)
                append(f"# HELP {name} {doc}\n")
                append(f"# TYPE {name} gauge\n")
                output.extend(lines)
        self._prefixes = new
        return "".join(output).encode("utf-8")


def _original_line(s) -> str:
    """generate_latest's sample_line, for what the fast path leaves out."""
    labelstr = ""
    if s.labels:
        labelstr = ",".join('{}="{}"'.format(openmetrics.escape_label_name(k, _ESCAPING),
                                             escape_label_value(v))
                            for k, v in sorted(s.labels.items()))
    timestamp = ""
    if s.timestamp is not None:
        timestamp = f" {int(float(s.timestamp) * 1000):d}"
    name = openmetrics.escape_metric_name(s.name, _ESCAPING)
    if labelstr:
        labelstr = f"{{{labelstr}}}"
    return f"{name}{labelstr} {floatToGoString(s.value)}{timestamp}\n"


generate_latest = Renderer()
