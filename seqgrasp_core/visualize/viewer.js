// seqgrasp show: a small canvas-2D renderer for one grasp sequence (no dependencies).
// Painter's algorithm: every triangle and contact dot is projected orthographically,
// sorted back to front and filled with a head-light Lambert shade.
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
  var HOME = { yaw: -0.7, pitch: 0.35, zoom: 1.0 };
  var view = { yaw: HOME.yaw, pitch: HOME.pitch, zoom: HOME.zoom, step: data.initialStep };

  function css(rgb, shade) {
    return "rgb(" + Math.round(255 * Math.min(1, rgb[0] * shade)) + "," +
      Math.round(255 * Math.min(1, rgb[1] * shade)) + "," +
      Math.round(255 * Math.min(1, rgb[2] * shade)) + ")";
  }

  // World (hand frame, z up) to camera: yaw about z, then the screen axes
  // (right = y, up = z, towards the viewer = x), then pitch about the screen's x.
  function camera() {
    var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw);
    var cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    var scale = view.zoom * 0.46 * Math.min(canvas.width, canvas.height) / radius;
    return function (x, y, z) {
      x -= centre[0]; y -= centre[1]; z -= centre[2];
      var x1 = cy * x - sy * y, y1 = sy * x + cy * y;
      var sx = y1, up = z, depth = x1;
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

  function draw() {
    var s = data.steps[view.step - 1];
    var project = camera();
    var items = [];
    for (var o = 0; o < s.step; o++) {
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
      } else {
        ctx.beginPath();
        ctx.arc(it.dot[0], it.dot[1], dot, 0, 2 * Math.PI);
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = data.contactColor;
        ctx.stroke();
      }
    }
    slider.value = String(view.step);
    label.textContent = "step " + s.step + "/" + nSteps + ": " + s.object + " (" + s.os + ")";
    var legend = document.getElementById("legend").children;
    for (var k = 0; k < legend.length; k++) {
      legend[k].className = k < s.step ? "" : "pending";
    }
    var count = nonBlank();
    body.setAttribute("data-step", String(view.step));
    body.setAttribute("data-nonblank-pixels", String(count));
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

  // Controls.
  slider.max = String(nSteps);
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
