// seqgrasp show / seqgrasp hand show: a small canvas-2D renderer for one grasp sequence
// or one hand (no dependencies). Painter's algorithm: every triangle, dot and segment is
// projected orthographically, sorted back to front (triangles filled with a head-light
// Lambert shade); "overlay" dots and segments are drawn last, over everything.
(function () {
  "use strict";
  var body = document.body;

  function fail(message) {
    body.setAttribute("data-rendered", "error");
    body.setAttribute("data-error", String(message).slice(0, 500));
    var box = document.getElementById("error");
    if (box) { box.textContent = "viewer error: " + message; box.hidden = false; }
  }
  window.addEventListener("error", function (ev) { fail(ev.message || ev.error); });
  var consoleError = console.error;
  console.error = function () {
    fail(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };

  var data;
  try {
    data = JSON.parse(document.getElementById("seqgrasp-data").textContent);
  } catch (e) {
    fail("cannot read the embedded data: " + e);
    return;
  }

  var canvas = document.getElementById("view");
  var ctx = canvas.getContext("2d");
  var slider = document.getElementById("step");
  var label = document.getElementById("label");
  var BACKGROUND = [251, 251, 253];
  var nSteps = data.steps.length;
  var lo = data.bounds[0], hi = data.bounds[1];
  var centre = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
  var radius = Math.max(1e-6, 0.5 * Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]));
  // The initial view: rows right, up, towards the viewer, in the hand frame (the page
  // data's "camera", e.g. looking at the palm); dragging turns it about the screen axes.
  var CAMERA = data.camera || [[0, 1, 0], [0, 0, 1], [1, 0, 0]];
  var markers = data.markers || [], segments = data.segments || [];
  var HOME = { yaw: 0.0, pitch: 0.0, zoom: 1.0 };
  var OVERLAY = 1e9;  // depth of what is drawn over everything
  var view = { yaw: HOME.yaw, pitch: HOME.pitch, zoom: HOME.zoom, step: data.initialStep };

  function css(rgb, shade) {
    return "rgb(" + Math.round(255 * Math.min(1, rgb[0] * shade)) + "," +
      Math.round(255 * Math.min(1, rgb[1] * shade)) + "," +
      Math.round(255 * Math.min(1, rgb[2] * shade)) + ")";
  }

  // World (hand frame) to camera: CAMERA's rows, then yaw about the screen's up axis,
  // then pitch about the screen's right axis.
  function camera() {
    var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw);
    var cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    var scale = view.zoom * 0.46 * Math.min(canvas.width, canvas.height) / radius;
    var R = CAMERA;
    return function (x, y, z) {
      x -= centre[0]; y -= centre[1]; z -= centre[2];
      var right = R[0][0] * x + R[0][1] * y + R[0][2] * z;
      var up = R[1][0] * x + R[1][1] * y + R[1][2] * z;
      var back = R[2][0] * x + R[2][1] * y + R[2][2] * z;
      var sx = cy * right + sy * back, depth = cy * back - sy * right;
      var up2 = cp * up - sp * depth, depth2 = sp * up + cp * depth;
      // Depth in pixels too, so that normals of projected triangles are isotropic.
      return [canvas.width / 2 + sx * scale, canvas.height / 2 - up2 * scale, depth2 * scale];
    };
  }

  function addMesh(items, project, verts, faces, color) {
    var p = new Array(verts.length / 3);
    for (var i = 0; i < p.length; i++) {
      p[i] = project(verts[3 * i], verts[3 * i + 1], verts[3 * i + 2]);
    }
    for (var f = 0; f < faces.length; f += 3) {
      var a = p[faces[f]], b = p[faces[f + 1]], c = p[faces[f + 2]];
      // Normal of the projected triangle (screen y points down, so flip it).
      var ux = b[0] - a[0], uy = a[1] - b[1], uz = b[2] - a[2];
      var vx = c[0] - a[0], vy = a[1] - c[1], vz = c[2] - a[2];
      var nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      var len = Math.hypot(nx, ny, nz) || 1;
      var shade = 0.38 + 0.62 * Math.abs(nz / len);
      items.push({ depth: (a[2] + b[2] + c[2]) / 3, tri: [a, b, c], fill: css(color, shade) });
    }
  }

  function addMarkers(items, project, dot) {
    var n = 0;
    for (var g = 0; g < markers.length; g++) {
      var mk = markers[g], r = dot * (mk.size || 1);
      var fill = css(mk.color, 1), edge = css(mk.color, 0.45);
      for (var i = 0; i < mk.points.length; i += 3, n++) {
        var q = project(mk.points[i], mk.points[i + 1], mk.points[i + 2]);
        items.push({ depth: mk.overlay ? OVERLAY : q[2] + 2 * r, dot: q, radius: r,
                     fill: fill, edge: edge, edgeWidth: 1 });
      }
    }
    return n;
  }

  function addSegments(items, project, head) {
    var n = 0;
    for (var g = 0; g < segments.length; g++) {
      var sg = segments[g], colour = css(sg.color, 1);
      for (var i = 0; i < sg.starts.length; i += 3, n++) {
        var a = project(sg.starts[i], sg.starts[i + 1], sg.starts[i + 2]);
        var b = project(sg.ends[i], sg.ends[i + 1], sg.ends[i + 2]);
        items.push({ depth: sg.overlay ? OVERLAY : (a[2] + b[2]) / 2, line: [a, b],
                     stroke: colour, width: sg.width || 1, head: sg.arrow ? head : 0 });
      }
    }
    return n;
  }

  function strokeLine(it) {
    var a = it.line[0], b = it.line[1];
    ctx.strokeStyle = it.stroke;
    ctx.lineWidth = it.width;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.hypot(dx, dy);
    if (it.head && len > 1e-6) {
      var h = Math.min(it.head, 0.45 * len), ux = -dx / len * h, uy = -dy / len * h;
      for (var k = -1; k <= 1; k += 2) {
        var c = Math.cos(0.45 * k), s = Math.sin(0.45 * k);
        ctx.moveTo(b[0], b[1]);
        ctx.lineTo(b[0] + c * ux - s * uy, b[1] + s * ux + c * uy);
      }
    }
    ctx.stroke();
  }

  function draw() {
    var s = data.steps[view.step - 1];
    var project = camera();
    var items = [];
    for (var o = 0; o < Math.min(s.step, data.objects.length); o++) {
      var obj = data.objects[o];
      addMesh(items, project, obj.vertices, obj.faces, obj.color);
    }
    addMesh(items, project, s.hand, data.handFaces, data.handColor);
    var dot = Math.max(3, 0.006 * view.zoom * Math.min(canvas.width, canvas.height));
    for (var c = 0; c < s.contactObject.length; c++) {
      var q = project(s.contacts[3 * c], s.contacts[3 * c + 1], s.contacts[3 * c + 2]);
      // A contact lies on a surface: nudge it forward so it wins ties with that surface.
      items.push({ depth: q[2] + 2 * dot, dot: q, fill: css(data.objects[s.contactObject[c]].color, 1) });
    }
    var drawnMarkers = addMarkers(items, project, dot);
    var drawnSegments = addSegments(items, project, Math.max(6, 0.018 * Math.min(canvas.width, canvas.height)));
    items.sort(function (u, v) { return u.depth - v.depth; });
    ctx.fillStyle = css([BACKGROUND[0] / 255, BACKGROUND[1] / 255, BACKGROUND[2] / 255], 1);
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.lineJoin = "round";
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      ctx.fillStyle = it.fill;
      if (it.tri) {
        ctx.strokeStyle = it.fill;
        ctx.lineWidth = 0.6;
        ctx.beginPath();
        ctx.moveTo(it.tri[0][0], it.tri[0][1]);
        ctx.lineTo(it.tri[1][0], it.tri[1][1]);
        ctx.lineTo(it.tri[2][0], it.tri[2][1]);
        ctx.closePath();
        ctx.fill();
        ctx.stroke();
      } else if (it.line) {
        strokeLine(it);
      } else {
        ctx.beginPath();
        ctx.arc(it.dot[0], it.dot[1], it.radius || dot, 0, 2 * Math.PI);
        ctx.fill();
        ctx.lineWidth = it.edgeWidth || 2;
        ctx.strokeStyle = it.edge || data.contactColor;
        ctx.stroke();
      }
    }
    slider.value = String(view.step);
    label.textContent = s.label !== undefined ? s.label :
      "step " + s.step + "/" + nSteps + ": " + s.object + " (" + s.os + ")";
    var legend = document.getElementById("legend").children;
    for (var k = 0; k < data.objects.length && k < legend.length; k++) {
      legend[k].className = k < s.step ? "" : "pending";
    }
    var count = nonBlank();
    body.setAttribute("data-step", String(view.step));
    body.setAttribute("data-nonblank-pixels", String(count));
    body.setAttribute("data-markers", String(drawnMarkers));
    body.setAttribute("data-segments", String(drawnSegments));
    return count;
  }

  function nonBlank() {
    var px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    var n = 0;
    for (var i = 0; i < px.length; i += 4) {
      if (Math.abs(px[i] - BACKGROUND[0]) + Math.abs(px[i + 1] - BACKGROUND[1]) +
          Math.abs(px[i + 2] - BACKGROUND[2]) > 12) { n++; }
    }
    return n;
  }

  function setStep(k) {
    view.step = Math.max(1, Math.min(nSteps, k));
    draw();
  }
  function rotate(dx, dy) {
    view.yaw += dx;
    view.pitch = Math.max(-1.55, Math.min(1.55, view.pitch + dy));
    draw();
  }
  function zoom(factor) {
    view.zoom = Math.max(0.1, Math.min(40, view.zoom * factor));
    draw();
  }
  function reset() {
    view.yaw = HOME.yaw; view.pitch = HOME.pitch; view.zoom = HOME.zoom;
    draw();
  }

  // Controls (the step controls only when there is more than one step).
  slider.max = String(nSteps);
  if (nSteps < 2) {
    ["prev", "step", "next"].forEach(function (id) { document.getElementById(id).hidden = true; });
  }
  if (data.hint) { document.getElementById("hint").textContent = data.hint; }
  slider.addEventListener("input", function () { setStep(parseInt(slider.value, 10)); });
  document.getElementById("prev").addEventListener("click", function () { setStep(view.step - 1); });
  document.getElementById("next").addEventListener("click", function () { setStep(view.step + 1); });
  document.getElementById("reset").addEventListener("click", reset);
  var drag = null;
  canvas.addEventListener("pointerdown", function (ev) {
    drag = [ev.clientX, ev.clientY];
    canvas.classList.add("dragging");
    if (canvas.setPointerCapture) { canvas.setPointerCapture(ev.pointerId); }
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    rotate((ev.clientX - drag[0]) * 0.01, (ev.clientY - drag[1]) * 0.01);
    drag = [ev.clientX, ev.clientY];
  });
  function endDrag() { drag = null; canvas.classList.remove("dragging"); }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoom(Math.exp(-ev.deltaY * 0.0015));
  }, { passive: false });
  window.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowLeft") { setStep(view.step - 1); }
    else if (ev.key === "ArrowRight") { setStep(view.step + 1); }
    else if (ev.key === "r") { reset(); }
  });

  var legendList = document.getElementById("legend");
  for (var o = 0; o < data.objects.length; o++) {
    var li = document.createElement("li");
    var sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = css(data.objects[o].color, 1);
    li.appendChild(sw);
    li.appendChild(document.createTextNode(data.objects[o].name));
    legendList.appendChild(li);
  }
  var extra = data.legend || [];
  for (var e = 0; e < extra.length; e++) {
    var item = document.createElement("li");
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = css(extra[e].color, 1);
    item.appendChild(swatch);
    var text = extra[e].label;
    if (extra[e].count !== null && extra[e].count !== undefined) { text += " (" + extra[e].count + ")"; }
    item.appendChild(document.createTextNode(text));
    legendList.appendChild(item);
  }

  function fitCanvas() {
    var width = Math.max(320, Math.min(1100, (window.innerWidth || 900) - 40));
    if (canvas.width !== width) { canvas.width = width; }
  }
  window.addEventListener("resize", function () { fitCanvas(); draw(); });

  // "#step=K" opens step K; "#selftest" also steps through everything, rotates and
  // zooms, and records each step's drawn pixels (for the headless browser test).
  var hash = window.location.hash || "";
  var m = /step=(\d+)/.exec(hash);
  if (m) { view.step = Math.max(1, Math.min(nSteps, parseInt(m[1], 10))); }
  try {
    fitCanvas();
    if (hash.indexOf("selftest") >= 0) {
      var start = view.step, counts = [];
      for (var k = 1; k <= nSteps; k++) { setStep(k); counts.push(nonBlank()); }
      body.setAttribute("data-nonblank-steps", counts.join(","));
      setStep(start);
      rotate(0.8, 0.3);
      body.setAttribute("data-rotated-pixels", String(nonBlank()));
      zoom(2.0);
      body.setAttribute("data-zoomed-pixels", String(nonBlank()));
      reset();
    }
    draw();
    if (body.getAttribute("data-rendered") !== "error") {
      body.setAttribute("data-rendered", "ok");
    }
  } catch (e) {
    fail(e && e.stack ? e.stack : e);
  }
})();
