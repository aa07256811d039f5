// The embedding map: packed columns from a json_script block (fixed-width base-36
// digits, see reviews/selectors/similarity_map.py), drawn on a canvas.
// The page holds no sample text: a hovered point's text is fetched from the
// server as an escaped partial, parsed inside a <template> (inert) and moved in.
(function () {
  "use strict";
  var canvas = document.getElementById("embedding-map");
  var source = document.getElementById("map-points");
  if (!canvas || !source) return;
  var data = JSON.parse(source.textContent);
  var tooltip = document.getElementById("map-tooltip");
  var legend = document.getElementById("map-legend");
  var select = document.getElementById("map-colour");
  var context = canvas.getContext("2d");
  var palette = ["#3557d4", "#1f8a5b", "#d0473b", "#7a52c7", "#c98a1b", "#1b9bb0", "#b03b8a", "#5f6b7a",
                 "#8c6d31", "#2f4b7c", "#e07b39", "#4f9d2d"];
  var quiet = {hidden: "#c3c8d1", none: "#d6dae1"};
  var fixed = {
    origin: {real: "#1f8a5b", synthetic: "#7a52c7"},
    status: {pending: "#98a2b3", accepted: "#2e9b63", rejected: "#d0473b"}
  };
  // Novelty (1 − similarity to the nearest real or accepted sample, in percent), low is repetitive.
  var noveltyBins = [[0, 5, "< 0.05", "#b42318"], [5, 10, "0.05–0.10", "#e07b39"], [10, 20, "0.10–0.20", "#c9a21b"],
                     [20, 40, "0.20–0.40", "#1b9bb0"], [40, 101, "≥ 0.40", "#3557d4"]];
  var LEGEND_MAX = 12;
  var margin = 12;

  function column(packed, width) {
    var values = [];
    for (var at = 0; at < packed.length; at += width) values.push(parseInt(packed.substr(at, width), 36));
    return values;
  }
  var xs = column(data.x, 2), ys = column(data.y, 2), novelty = column(data.novelty, 2);
  var codes = {};
  ["cluster", "generator", "template", "status", "group", "origin"].forEach(function (key) {
    codes[key] = column(data[key].codes, data[key].width);
  });
  var points = [];
  var id = 0;
  (data.id_gaps ? data.id_gaps.split(",") : []).forEach(function (gap, n) {
    id += parseInt(gap, 10);
    points.push({id: id, n: n, x: xs[n] / data.grid, y: ys[n] / data.grid});
  });
  var radius = points.length > 2000 ? 2.5 : 3.5;
  var hovered = null;

  // For the chosen colouring: each point's [label, colour], and the legend's rows.
  function colouring(by) {
    var labelOf, colours = {}, counts = {};
    if (by === "novelty") {
      labelOf = function (p) {
        var value = novelty[p.n];
        if (value === data.no_novelty) return "none";
        for (var b = 0; b < noveltyBins.length; b++) {
          if (value < noveltyBins[b][1]) return noveltyBins[b][2];
        }
        return noveltyBins[noveltyBins.length - 1][2];
      };
      noveltyBins.forEach(function (bin) { colours[bin[2]] = bin[3]; });
    } else {
      var categoryNames = data[by].names, byPoint = codes[by];
      labelOf = function (p) { return categoryNames[byPoint[p.n]]; };
    }
    points.forEach(function (p) { var label = labelOf(p); counts[label] = (counts[label] || 0) + 1; });
    var names = Object.keys(counts).filter(function (name) { return !quiet[name]; });
    if (by !== "novelty") names.sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); });
    else names = noveltyBins.map(function (bin) { return bin[2]; }).filter(function (name) { return counts[name]; });
    names.forEach(function (name, i) {
      if (!colours[name]) colours[name] = (fixed[by] && fixed[by][name]) || palette[i % palette.length];
    });
    Object.keys(quiet).forEach(function (name) { if (counts[name]) { colours[name] = quiet[name]; names.push(name); } });
    return {labelOf: labelOf, colours: colours, counts: counts, names: names};
  }

  function position(p) {
    return [margin + p.x * (canvas.width - 2 * margin), margin + (1 - p.y) * (canvas.height - 2 * margin)];
  }

  function draw() {
    var scheme = colouring(canvas.dataset.colour);
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.globalAlpha = 0.8;
    // Points without a colour first, so the coloured structure lies on top.
    [true, false].forEach(function (quietPass) {
      points.forEach(function (p) {
        var label = scheme.labelOf(p);
        if (Boolean(quiet[label]) !== quietPass) return;
        var xy = position(p);
        context.fillStyle = scheme.colours[label] || "#667085";
        context.beginPath();
        context.arc(xy[0], xy[1], radius, 0, 2 * Math.PI);
        context.fill();
      });
    });
    context.globalAlpha = 1;
    if (hovered) {
      var xy = position(hovered);
      // The page's text colour (currentColor), so the ring shows on the dark scheme's canvas too.
      context.strokeStyle = getComputedStyle(canvas).color || "#111827";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(xy[0], xy[1], radius + 3, 0, 2 * Math.PI);
      context.stroke();
    }
    legend.replaceChildren();
    var named = scheme.names.filter(function (name) { return !quiet[name]; });
    var shown = named.slice(0, LEGEND_MAX).concat(scheme.names.filter(function (name) { return quiet[name]; }));
    shown.forEach(function (name) {
      var item = document.createElement("li");
      var key = document.createElement("span");
      key.className = "key";
      key.style.background = scheme.colours[name];
      item.append(key, document.createTextNode(name + " (" + scheme.counts[name] + ")"));
      legend.appendChild(item);
    });
    if (named.length > LEGEND_MAX) {
      var more = document.createElement("li");
      more.className = "muted";
      more.textContent = "and " + (named.length - LEGEND_MAX) + " more (colours repeat)";
      legend.appendChild(more);
    }
  }

  function nearest(event) {
    var box = canvas.getBoundingClientRect();
    var x = (event.clientX - box.left) * canvas.width / box.width;
    var y = (event.clientY - box.top) * canvas.height / box.height;
    var best = null, bestDistance = 64;
    points.forEach(function (p) {
      var xy = position(p);
      var d = (xy[0] - x) * (xy[0] - x) + (xy[1] - y) * (xy[1] - y);
      if (d < bestDistance) { best = p; bestDistance = d; }
    });
    return best;
  }

  var texts = {};
  var pending = null;

  function show(point, html) {
    var parsed = document.createElement("template");
    parsed.innerHTML = html;
    tooltip.replaceChildren(parsed.content);
    tooltip.hidden = false;
  }

  function fetchText(point) {
    if (texts[point.id]) { show(point, texts[point.id]); return; }
    var head = document.createElement("strong");
    head.textContent = "#" + point.id + " …";
    tooltip.replaceChildren(head);
    tooltip.hidden = false;
    clearTimeout(pending);
    // Only a point the pointer rests on is fetched, not each one it passes.
    pending = setTimeout(function () {
      var url = canvas.dataset.pointUrl.replace(/\/0\/$/, "/" + point.id + "/");
      fetch(url, {headers: {"HX-Request": "true"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!html) return;
          texts[point.id] = html;
          if (hovered === point) show(point, html);
        });
    }, 80);
  }

  canvas.addEventListener("mousemove", function (event) {
    var point = nearest(event);
    if (point !== hovered) {
      hovered = point;
      draw();
      if (point) fetchText(point);
    }
    if (!point) { tooltip.hidden = true; canvas.style.cursor = "default"; return; }
    canvas.style.cursor = "pointer";
    var wrap = canvas.parentElement.getBoundingClientRect();
    tooltip.style.left = Math.max(0, Math.min(event.clientX - wrap.left + 14, wrap.width - 320)) + "px";
    tooltip.style.top = (event.clientY - wrap.top + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; hovered = null; draw(); });
  canvas.addEventListener("click", function (event) {
    var point = nearest(event);
    if (point) window.location.href = canvas.dataset.sampleUrl.replace(/\/0\/$/, "/" + point.id + "/");
  });
  if (select) {
    select.addEventListener("change", function () {
      canvas.dataset.colour = select.value;
      var url = new URL(window.location.href);
      url.searchParams.set("colour", select.value);
      window.history.replaceState(null, "", url);
      draw();
    });
  }
  draw();
})();
