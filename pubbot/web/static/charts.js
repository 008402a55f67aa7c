// The dashboard's charts: /history (kept by the bot, see pubbot/web/history.py)
// drawn with uPlot (shipped in static/uplot, no CDN). Polled every interval.
"use strict";
(function () {
  const CHARTS = [
    ["lines", "Chat lines a minute, by channel", ""],
    ["calls", "Handler calls a minute, by plugin", ""],
    ["latency", "Mean handler latency (ms), by plugin", " ms"],
    ["lag", "Lag (ms), by network", " ms"],
    ["queue", "Output queue (lines), by network", ""],
    ["reconnects", "Reconnects, by network", ""],
  ];
  const COLOURS = ["#2f5d9e", "#1f7a3a", "#b3261e", "#8a5a00", "#6a3d9a", "#00838f",
                   "#c2185b", "#5d4037", "#455a64", "#9e9d24", "#ef6c00", "#37474f"];
  const plots = {};

  function card(key, title) {
    let box = document.getElementById("chart-" + key);
    if (!box) {
      box = document.createElement("div");
      box.id = "chart-" + key;
      box.className = "chart";
      const h = document.createElement("h3");
      h.textContent = title;
      box.appendChild(h);
      document.getElementById("charts").appendChild(box);
    }
    return box;
  }

  function draw(history) {
    const times = history.t;
    document.getElementById("charts-empty").hidden = times.length > 0;
    document.getElementById("charts-every").textContent =
      "(a sample every " + history.interval + " s, the last " + history.size + ")";
    for (const [key, title, unit] of CHARTS) {
      const chart = history[key];
      const box = card(key, title);
      box.hidden = !times.length || !chart.series.length;
      if (box.hidden) continue;
      const signature = chart.series.join("\u0000");
      const data = [times].concat(chart.data);
      const width = Math.max(240, box.clientWidth || 320);
      const old = plots[key];
      if (old && old.signature === signature) {
        old.plot.setData(data);
        if (Math.abs(old.plot.width - width) > 4) old.plot.setSize({ width: width, height: 160 });
        continue;
      }
      if (old) old.plot.destroy();
      const series = [{}].concat(chart.series.map(function (name, i) {
        return { label: name, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false,
                 value: function (u, v) { return v == null ? "–" : v.toFixed(1) + unit; } };
      }));
      const options = { width: width, height: 160, series: series, legend: { live: false },
                        axes: [{}, { size: 50 }], cursor: { drag: { x: false, y: false } } };
      plots[key] = { signature: signature, plot: new uPlot(options, data, box) };
    }
  }

  async function poll() {
    let interval = 10;
    try {
      const response = await fetch("history", { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const history = await response.json();
        interval = history.interval || interval;
        draw(history);
      }
    } catch (e) {
      // unreachable or restarting: keep the last charts
    }
    setTimeout(poll, Math.max(1, interval) * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof uPlot === "function") poll();
  });
})();
