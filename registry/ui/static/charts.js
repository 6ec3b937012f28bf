// Draws one uPlot line chart per metric on the compare page, from the JSON the server embedded.
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var figures = document.querySelectorAll("figure.chart");
  window.registryCharts = [];
  charts.forEach(function (chart, i) {
    var target = figures[i].querySelector(".plot");
    var series = [{ label: "step" }];
    var data = [chart.steps];
    chart.series.forEach(function (s, j) {
      series.push({ label: s.name, stroke: COLORS[j % COLORS.length], width: 2, spanGaps: true,
                    points: { show: chart.steps.length < 50 } });
      data.push(s.values);
    });
    var width = Math.max(280, Math.min(target.clientWidth || 600, 900));
    var plot = new uPlot({ width: width, height: 240, series: series, scales: { x: { time: false } },
                           axes: [{ label: "step" }, {}] }, data, target);
    window.registryCharts.push(plot);
  });
})();
