// Draws the reports page's charts with uPlot from the page's JSON block. Each
// chart has its figures in a table beside it; without script the tables remain.
(function () {
  var source = document.getElementById("report-data");
  if (!source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var colours = { a: "#1d4ed8", b: "#b45309", c: "#047857" };

  function width(el) { return Math.max(280, Math.min(900, el.clientWidth || 600)); }

  function dayTimes(days) {
    return days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
  }

  // Categories (tiers, engineers) sit at 0..n-1 on the x axis, labelled by name.
  function categoryAxis(labels) {
    return {
      splits: function () { return labels.map(function (_, i) { return i; }); },
      values: function (_u, splits) { return splits.map(function (i) { return labels[i] === undefined ? "" : String(labels[i]); }); },
    };
  }

  function bars(el, labels, series) {
    var xs = labels.map(function (_, i) { return i; });
    var opts = {
      width: width(el), height: 240,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
      axes: [categoryAxis(labels), {}],
      series: [{ label: "" }].concat(series.map(function (s, i) {
        return {
          label: s.label, stroke: s.colour, fill: s.colour + "cc", width: 1,
          // Two series stand side by side, one each side of their category.
          paths: uPlot.paths.bars({ size: [series.length > 1 ? 0.35 : 0.6, 60],
                                    align: series.length > 1 ? (i === 0 ? -1 : 1) : 0 }),
          points: { show: false },
        };
      })),
    };
    new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), el);
  }

  function lines(el, days, series, yRange) {
    var opts = {
      width: width(el), height: 240,
      scales: yRange ? { y: { range: yRange } } : {},
      // Whole days on the x axis: a tick a day (or a week, when crowded), labelled MM-DD.
      axes: [{ incrs: [86400, 7 * 86400, 28 * 86400], values: function (_u, splits) {
        return splits.map(function (s) { return new Date(s * 1000).toISOString().slice(5, 10); });
      } }, {}],
      series: [{ label: "Day", value: function (_u, v) {
        return v == null ? "--" : new Date(v * 1000).toISOString().slice(0, 10);
      } }].concat(series.map(function (s) {
        return { label: s.label, stroke: s.colour, width: 2, spanGaps: false };
      })),
    };
    new uPlot(opts, [dayTimes(days)].concat(series.map(function (s) { return s.values; })), el);
  }

  var draw = {
    tickets: function (el) {
      lines(el, data.tickets.days, [
        { label: "Opened", colour: colours.a, values: data.tickets.opened },
        { label: "Resolved", colour: colours.c, values: data.tickets.resolved },
      ]);
    },
    first_time: function (el) {
      lines(el, data.first_time.days, [
        { label: "Resolved by the first engineer", colour: colours.c, values: data.first_time.rate },
      ], [0, 1]);
    },
    escalations: function (el) {
      bars(el, data.escalations.tiers.map(function (t) { return "tier " + t; }), [
        { label: "Escalations", colour: colours.b, values: data.escalations.escalations },
      ]);
    },
    breaches: function (el) {
      bars(el, data.breaches.tiers.map(function (t) { return "tier " + t; }), [
        { label: "Accept clock", colour: colours.a, values: data.breaches.accept },
        { label: "Resolve clock", colour: colours.b, values: data.breaches.resolve },
      ]);
    },
    engineers: function (el) {
      bars(el, data.engineers.engineers, [
        { label: "Hours", colour: colours.a, values: data.engineers.hours },
        { label: "Open load", colour: colours.b, values: data.engineers.load },
      ]);
    },
  };

  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var fn = draw[el.getAttribute("data-chart")];
    if (fn) fn(el);
  });
})();
