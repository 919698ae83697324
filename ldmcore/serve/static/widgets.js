// Drawing widgets of the studio: boxes on a canvas, a pixel brush for masks and label maps.
// Coordinates of boxes are in [0, 1] (x right, y down), as ldmcore's layout text.
(() => {
"use strict";

const VIEW = 384; // displayed canvas side, in CSS pixels

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---------------------------------------------------------------- boxes (layout2img)
class BoxEditor {
  constructor(classes, maxObjects) {
    this.classes = classes; // [{name, id, color}]
    this.max = maxObjects || 8;
    this.boxes = []; // {cls: name, x0, y0, x1, y1}
    this.selected = -1;
    this.drag = null;
    this.canvas = el("canvas", {id: "layout-canvas", width: VIEW, height: VIEW, tabindex: 0});
    this.picker = el("select", {id: "class-picker"});
    for (const c of classes) this.picker.append(el("option", {value: c.name}, c.name));
    this.list = el("div", {id: "box-list"});
    this.note = el("div", {class: "hint"},
      "Drag on the canvas to draw a box; drag a box to move it, its corners to resize; " +
      "Delete removes the selected box.");
    this.root = el("div", {},
      el("label", {}, "new box class ", this.picker), this.canvas, this.note, this.list);
    this.canvas.addEventListener("mousedown", (e) => this.down(e));
    window.addEventListener("mousemove", (e) => this.move(e));
    window.addEventListener("mouseup", () => this.up());
    this.canvas.addEventListener("keydown", (e) => {
      if ((e.key === "Delete" || e.key === "Backspace") && this.selected >= 0) {
        this.remove(this.selected); e.preventDefault();
      }
    });
    this.draw();
  }
  colorOf(name) { return (this.classes.find((c) => c.name === name) || {}).color || "#f0f"; }
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  }
  corner(b, x, y) { // which corner of b is under (x, y), if any
    const tol = 8 / VIEW;
    for (const [cx, cy, name] of [[b.x0, b.y0, "nw"], [b.x1, b.y0, "ne"],
                                  [b.x0, b.y1, "sw"], [b.x1, b.y1, "se"]]) {
      if (Math.abs(x - cx) < tol && Math.abs(y - cy) < tol) return name;
    }
    return null;
  }
  down(e) {
    this.canvas.focus();
    const [x, y] = this.point(e);
    if (this.selected >= 0) {
      const c = this.corner(this.boxes[this.selected], x, y);
      if (c) { this.drag = {mode: "resize", corner: c}; return; }
    }
    for (let i = this.boxes.length - 1; i >= 0; i--) {
      const b = this.boxes[i];
      const c = this.corner(b, x, y);
      if (c || (x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1)) {
        this.selected = i;
        this.drag = c ? {mode: "resize", corner: c} : {mode: "move", x, y, box: {...b}};
        this.render(); return;
      }
    }
    if (this.boxes.length >= this.max) {
      this.note.textContent = `at most ${this.max} boxes for this model`; return;
    }
    this.boxes.push({cls: this.picker.value, x0: x, y0: y, x1: x, y1: y});
    this.selected = this.boxes.length - 1;
    this.drag = {mode: "create", x, y};
    this.render();
  }
  move(e) {
    if (!this.drag) return;
    const [x, y] = this.point(e);
    const b = this.boxes[this.selected];
    const d = this.drag;
    if (d.mode === "create") {
      Object.assign(b, {x0: Math.min(d.x, x), x1: Math.max(d.x, x),
                        y0: Math.min(d.y, y), y1: Math.max(d.y, y)});
    } else if (d.mode === "move") {
      const w = d.box.x1 - d.box.x0, h = d.box.y1 - d.box.y0;
      const nx = Math.min(1 - w, Math.max(0, d.box.x0 + x - d.x));
      const ny = Math.min(1 - h, Math.max(0, d.box.y0 + y - d.y));
      Object.assign(b, {x0: nx, y0: ny, x1: nx + w, y1: ny + h});
    } else {
      if (d.corner.includes("w")) b.x0 = x; else b.x1 = x;
      if (d.corner.includes("n")) b.y0 = y; else b.y1 = y;
      if (b.x0 > b.x1) { [b.x0, b.x1] = [b.x1, b.x0]; d.corner = d.corner.replace(/[we]/, (m) => m === "w" ? "e" : "w"); }
      if (b.y0 > b.y1) { [b.y0, b.y1] = [b.y1, b.y0]; d.corner = d.corner.replace(/[ns]/, (m) => m === "n" ? "s" : "n"); }
    }
    this.render();
  }
  up() {
    if (!this.drag) return;
    const b = this.boxes[this.selected];
    if (this.drag.mode === "create" && (b.x1 - b.x0 < 0.02 || b.y1 - b.y0 < 0.02)) {
      this.boxes.pop(); this.selected = -1;
    }
    this.drag = null;
    this.render();
  }
  remove(i) { this.boxes.splice(i, 1); this.selected = -1; this.render(); }
  render() { this.draw(); this.renderList(); }
  draw() {
    const g = this.canvas.getContext("2d");
    g.fillStyle = "#e0e0e0"; g.fillRect(0, 0, VIEW, VIEW);
    g.strokeStyle = "#ccc"; g.lineWidth = 1;
    for (let i = 1; i < 8; i++) {
      g.beginPath(); g.moveTo(i * VIEW / 8, 0); g.lineTo(i * VIEW / 8, VIEW); g.stroke();
      g.beginPath(); g.moveTo(0, i * VIEW / 8); g.lineTo(VIEW, i * VIEW / 8); g.stroke();
    }
    this.boxes.forEach((b, i) => {
      const c = this.colorOf(b.cls);
      const [x, y, w, h] = [b.x0 * VIEW, b.y0 * VIEW, (b.x1 - b.x0) * VIEW, (b.y1 - b.y0) * VIEW];
      g.globalAlpha = 0.35; g.fillStyle = c; g.fillRect(x, y, w, h); g.globalAlpha = 1;
      g.strokeStyle = c; g.lineWidth = i === this.selected ? 3 : 2; g.strokeRect(x, y, w, h);
      g.fillStyle = "#111"; g.font = "12px sans-serif"; g.fillText(b.cls, x + 3, y + 13);
      if (i === this.selected) {
        g.fillStyle = "#fff"; g.strokeStyle = "#000"; g.lineWidth = 1;
        for (const [cx, cy] of [[x, y], [x + w, y], [x, y + h], [x + w, y + h]]) {
          g.fillRect(cx - 4, cy - 4, 8, 8); g.strokeRect(cx - 4, cy - 4, 8, 8);
        }
      }
    });
  }
  renderList() {
    this.list.replaceChildren(...this.boxes.map((b, i) => {
      const sel = el("select", {class: "box-class", onchange: (e) => {
        b.cls = e.target.value; this.draw(); swatch.style.background = this.colorOf(b.cls);
      }});
      for (const c of this.classes) sel.append(el("option", {value: c.name}, c.name));
      sel.value = b.cls;
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = this.colorOf(b.cls);
      const coords = [b.x0, b.y0, b.x1, b.y1].map((v) => v.toFixed(2)).join(" ");
      return el("div", {class: "box-row" + (i === this.selected ? " selected" : "")},
        swatch, sel, el("span", {class: "coords"}, coords),
        el("button", {type: "button", class: "box-delete", onclick: () => this.remove(i)},
           "delete"));
    }));
  }
  value() {
    return this.boxes.map((b) => ({class: b.cls, box: [b.x0, b.y0, b.x1, b.y1].map(
      (v) => Math.round(v * 1000) / 1000)}));
  }
}

// ---------------------------------------------------------------- pixel brush
// Paints integer labels into a w x h grid (no antialiasing: a mask stays black/white, a label
// map stays in the palette), shown scaled over an optional picture.
class PixelPainter {
  constructor({id, width, height, colors, background = null, overlay = 0.55}) {
    this.w = width; this.h = height;
    this.colors = colors; // label -> "#rrggbb"; label 0 of a mask is transparent
    this.labels = new Uint8Array(width * height);
    this.current = 1; this.radius = Math.max(1, Math.round(width / 12));
    this.background = background; // an Image drawn under the labels (inpainting)
    this.overlay = overlay;
    const scale = Math.max(1, Math.floor(VIEW / Math.max(width, height)));
    this.canvas = el("canvas", {id, width: width * scale, height: height * scale});
    this.scale = scale;
    this.painting = false;
    this.canvas.addEventListener("mousedown", (e) => { this.painting = true; this.paint(e); });
    this.canvas.addEventListener("mousemove", (e) => { if (this.painting) this.paint(e); });
    window.addEventListener("mouseup", () => { this.painting = false; });
    this.draw();
  }
  paint(e) {
    const r = this.canvas.getBoundingClientRect();
    const cx = Math.floor((e.clientX - r.left) / r.width * this.w);
    const cy = Math.floor((e.clientY - r.top) / r.height * this.h);
    const rad = this.radius;
    for (let y = cy - rad + 1; y < cy + rad; y++) {
      for (let x = cx - rad + 1; x < cx + rad; x++) {
        if (x < 0 || y < 0 || x >= this.w || y >= this.h) continue;
        if ((x - cx) ** 2 + (y - cy) ** 2 < rad * rad) this.labels[y * this.w + x] = this.current;
      }
    }
    this.draw();
  }
  clear() { this.labels.fill(0); this.draw(); }
  painted() { return this.labels.some((v) => v !== 0); }
  draw() {
    const g = this.canvas.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.background) g.drawImage(this.background, 0, 0, this.canvas.width, this.canvas.height);
    for (let y = 0; y < this.h; y++) {
      for (let x = 0; x < this.w; x++) {
        const v = this.labels[y * this.w + x];
        if (this.background && v === 0) continue;
        g.globalAlpha = this.background ? this.overlay : 1;
        g.fillStyle = this.colors[v];
        g.fillRect(x * this.scale, y * this.scale, this.scale, this.scale);
      }
    }
    g.globalAlpha = 1;
  }
  // the grid as a PNG data URL, each label in `rgb(label)` (exact colours, no smoothing)
  dataURL(rgb) {
    const c = el("canvas", {width: this.w, height: this.h});
    const g = c.getContext("2d");
    const img = g.createImageData(this.w, this.h);
    for (let i = 0; i < this.labels.length; i++) {
      const [r, gg, b] = rgb(this.labels[i]);
      img.data.set([r, gg, b, 255], i * 4);
    }
    g.putImageData(img, 0, 0);
    return c.toDataURL("image/png");
  }
}

function hex(rgb) { return "#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join(""); }

// ---------------------------------------------------------------- a picture, with a mask
// Upload a file (or take a result from the gallery); with `withMask`, paint over it.
class PictureInput {
  constructor({id, withMask, onchange = () => {}}) {
    this.id = id; this.withMask = withMask; this.onchange = onchange;
    this.url = null; this.image = null; this.painter = null;
    this.file = el("input", {type: "file", accept: "image/*", id: `${id}-file`});
    this.file.addEventListener("change", () => {
      const f = this.file.files[0];
      if (!f) return;
      const reader = new FileReader();
      reader.onload = () => this.set(reader.result);
      reader.readAsDataURL(f);
    });
    this.area = el("div", {id: `${id}-area`});
    this.brush = el("input", {type: "range", min: 1, max: 16, value: 3, id: `${id}-brush`});
    this.brush.addEventListener("input", () => {
      if (this.painter) this.painter.radius = +this.brush.value;
    });
    this.erase = el("input", {type: "checkbox", id: `${id}-erase`});
    this.erase.addEventListener("change", () => {
      if (this.painter) this.painter.current = this.erase.checked ? 0 : 1;
    });
    const tools = withMask ? el("div", {class: "hint"}, "brush ", this.brush, " erase ",
      this.erase, " ", el("button", {type: "button", onclick: () => this.painter && this.painter.clear()},
      "clear mask"), el("div", {}, "Paint the region to generate (white in the mask).")) : "";
    this.root = el("div", {}, this.file, el("span", {class: "hint"},
      " or “use as picture” on a result"), this.area, tools);
  }
  set(url) {
    const img = new Image();
    img.onload = () => {
      this.url = url; this.image = img;
      if (this.withMask) {
        this.painter = new PixelPainter({id: `${this.id}-mask-canvas`, width: img.naturalWidth,
          height: img.naturalHeight, colors: ["#000000", "#ff00ff"], background: img});
        this.painter.radius = +this.brush.value;
        this.area.replaceChildren(this.painter.canvas);
      } else {
        const shown = el("img", {src: url, class: "picture"});
        shown.style.width = "192px"; shown.style.imageRendering = "pixelated";
        this.area.replaceChildren(shown);
      }
      this.onchange();
    };
    img.src = url;
  }
  maskURL() {
    return this.painter.dataURL((v) => (v ? [255, 255, 255] : [0, 0, 0]));
  }
}

window.Widgets = {BoxEditor, PixelPainter, PictureInput, el, hex};
})();
