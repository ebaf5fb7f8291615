// Draws the HQ analytics dashboard from the JSON the page embeds (no request of its own, no CDN).
(function () {
  "use strict";
  var node = document.getElementById("ekr-chart-data");
  if (!node || typeof Chart === "undefined") { return; }
  var d = JSON.parse(node.textContent);
  var t = d.labels_i18n;
  var palette = ["#417690", "#e07a5f", "#81b29a", "#f2cc8f", "#3d405b", "#9b5de5", "#00bbf9", "#f15bb5"];
  var base = { responsive: true, maintainAspectRatio: false, animation: false,
               plugins: { legend: { position: "bottom" } } };
  function draw(id, type, datasets, options) {
    var el = document.getElementById(id);
    if (!el) { return; }
    datasets.forEach(function (ds, i) {
      ds.backgroundColor = ds.backgroundColor || palette[i % palette.length];
      ds.borderColor = ds.borderColor || palette[i % palette.length];
    });
    el.parentNode.style.height = "320px";
    new Chart(el, { type: type, data: { labels: d.labels, datasets: datasets },
                    options: Object.assign({}, base, options || {}) });
  }
  var stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } };
  draw("chart-sales", "bar", [
    { label: t.online, data: d.gmv_online, stack: "gmv" },
    { label: t.pos, data: d.gmv_pos, stack: "gmv" },
    { label: t.refunds, data: d.refunds.map(function (v) { return -v; }), stack: "gmv" },
    { label: t.net, data: d.net, type: "line", stack: "net" }
  ], stacked);
  draw("chart-orders", "bar", [
    { label: t.member, data: d.orders_member }, { label: t.nonmember, data: d.orders_nonmember }
  ], stacked);
  draw("chart-channels", "bar", Object.keys(d.new_by_channel).map(function (name) {
    return { label: name, data: d.new_by_channel[name] };
  }), stacked);
  draw("chart-active", "line", [
    { label: t.active30, data: d.active_30d }, { label: t.active90, data: d.active_90d },
    { label: t.churned, data: d.churned }
  ]);
  draw("chart-join", "line", [{ label: t.join_rate, data: d.join_rate, spanGaps: true }],
       { scales: { y: { beginAtZero: true, suggestedMax: 100 } } });
  draw("chart-points", "bar", [
    { label: t.earned, data: d.points_earned }, { label: t.redeemed, data: d.points_redeemed }
  ]);
  document.body.setAttribute("data-ekr-charts", "drawn");
})();
