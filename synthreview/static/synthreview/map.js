// The embedding map: points from a json_script block, drawn on a canvas.
// Sample text reaches the page only through textContent, never as HTML.
(function () {
  "use strict";
  var canvas = document.getElementById("embedding-map");
  var source = document.getElementById("map-points");
  if (!canvas || !source) return;
  var points = JSON.parse(source.textContent);
  var tooltip = document.getElementById("map-tooltip");
  var legend = document.getElementById("map-legend");
  var select = document.getElementById("map-colour");
  var context = canvas.getContext("2d");
  var palette = ["#3557d4", "#1f8a5b", "#d0473b", "#7a52c7", "#c98a1b", "#1b9bb0", "#b03b8a", "#5f6b7a",
                 "#8c6d31", "#2f4b7c"];
  var fixed = {
    origin: {real: "#1f8a5b", synthetic: "#7a52c7"},
    status: {pending: "#98a2b3", accepted: "#2e9b63", rejected: "#d0473b"}
  };
  var margin = 12;
  var radius = points.length > 2000 ? 2.5 : 3.5;
  var hovered = null;

  function colours(by) {
    if (fixed[by]) return fixed[by];
    var names = [];
    points.forEach(function (p) { if (names.indexOf(p[by]) < 0) names.push(p[by]); });
    names.sort();
    var map = {};
    names.forEach(function (name, i) { map[name] = palette[i % palette.length]; });
    return map;
  }

  function position(p) {
    return [margin + p.x * (canvas.width - 2 * margin), margin + (1 - p.y) * (canvas.height - 2 * margin)];
  }

  function draw() {
    var by = canvas.dataset.colour;
    var map = colours(by);
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.globalAlpha = 0.75;
    points.forEach(function (p) {
      var xy = position(p);
      context.fillStyle = map[p[by]] || "#667085";
      context.beginPath();
      context.arc(xy[0], xy[1], radius, 0, 2 * Math.PI);
      context.fill();
    });
    context.globalAlpha = 1;
    if (hovered) {
      var xy = position(hovered);
      context.strokeStyle = "#111827";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(xy[0], xy[1], radius + 3, 0, 2 * Math.PI);
      context.stroke();
    }
    legend.replaceChildren();
    Object.keys(map).forEach(function (name) {
      var item = document.createElement("li");
      var key = document.createElement("span");
      key.className = "key";
      key.style.background = map[name];
      item.appendChild(key);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
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

  canvas.addEventListener("mousemove", function (event) {
    var point = nearest(event);
    if (point !== hovered) { hovered = point; draw(); }
    if (!point) { tooltip.hidden = true; canvas.style.cursor = "default"; return; }
    canvas.style.cursor = "pointer";
    tooltip.replaceChildren();
    var head = document.createElement("strong");
    head.textContent = "#" + point.id + " · " + point.origin +
      (point.origin === "real" ? "" : " · " + point.generator) + " · " + point.status;
    var input = document.createElement("div");
    input.className = "muted";
    input.textContent = point.input;
    var output = document.createElement("div");
    output.textContent = point.output;
    tooltip.append(head, input, output);
    var wrap = canvas.parentElement.getBoundingClientRect();
    tooltip.style.left = Math.min(event.clientX - wrap.left + 14, wrap.width - 320) + "px";
    tooltip.style.top = (event.clientY - wrap.top + 14) + "px";
    tooltip.hidden = false;
  });
  canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; hovered = null; draw(); });
  canvas.addEventListener("click", function (event) {
    var point = nearest(event);
    if (point) window.location.href = canvas.dataset.sampleUrl.replace(/\/0\/$/, "/" + point.id + "/");
  });
  if (select) {
    select.addEventListener("change", function () { canvas.dataset.colour = select.value; draw(); });
  }
  draw();
})();
