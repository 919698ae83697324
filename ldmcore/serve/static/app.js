// The studio page: one input widget per input the model declares (GET /api/models), the
// sampling controls, POST /api/generate, live progress over SSE, the results gallery.
"use strict";

const {BoxEditor, PixelPainter, PictureInput, el, hex} = window.Widgets;
const $ = (id) => document.getElementById(id);
const state = {models: [], model: null, widgets: {}, start: null, job: null, source: null};

async function api(method, path, body) {
  const resp = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                                  body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await resp.json().catch(() => ({error: `HTTP ${resp.status}`}));
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

function showError(text) { $("error").textContent = text || ""; }

async function init() {
  const info = await api("GET", "/api/models");
  state.models = info.models;
  state.limits = info.limits;
  for (const s of info.samplers) $("sampler").append(el("option", {value: s}, s));
  for (const m of info.models) $("model").append(el("option", {value: m.name}, m.name));
  $("model").addEventListener("change", () => selectModel($("model").value));
  $("generate").addEventListener("click", generate);
  $("cancel").addEventListener("click", cancel);
  $("random-seed").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 2 ** 31);
  });
  $("steps").max = info.limits.steps;
  $("num-samples").max = info.limits.num_samples;
  $("size").max = info.limits.size;
  if (info.models.length) selectModel(info.models[0].name);
  const {jobs} = await api("GET", "/api/jobs");
  for (const job of jobs.reverse()) if (job.status === "done") addResult(job);
}

// ---------------------------------------------------------------- the model's inputs
function selectModel(name) {
  const m = state.models.find((x) => x.name === name);
  state.model = m;
  $("model").value = name;
  $("model-info").textContent = `${m.task} · ${m.image_size}² · ${m.description}`;
  $("sampler").value = m.sampler;
  $("steps").value = m.steps || 50;
  $("scale").value = m.scale === null ? "" : m.scale;
  $("scale").disabled = m.scale === null;
  $("size").value = m.image_size;
  $("size").step = m.factor;
  state.widgets = {};
  const box = $("inputs");
  box.replaceChildren();
  const keys = m.inputs.map((f) => f.key);
  if (!m.inputs.length) box.append(el("p", {class: "hint"}, "An unconditional model: no inputs."));
  for (const f of m.inputs) {
    if (f.kind === "mask" && keys.includes("image")) continue; // painted on the image widget
    const name = f.option.slice(2);
    const widget = makeWidget(f, m, keys.includes("mask") && f.kind === "image");
    state.widgets[name] = {format: f, ...widget};
    box.append(el("div", {class: "field", id: `field-${name}`},
      el("div", {class: "field-title"}, `${name} (${f.kind})`), widget.node,
      el("div", {class: "hint"}, f.format)));
  }
  // mask-replacement inpainting for a model that does not take a picture itself
  const section = $("start-section");
  section.hidden = keys.includes("image");
  state.start = section.hidden ? null : new PictureInput({id: "start", withMask: true});
  $("start-inputs").replaceChildren(state.start ? state.start.root : "");
}

function makeWidget(f, m, withMask) {
  if (f.kind === "boxes") {
    const editor = new BoxEditor(m.classes, m.max_objects);
    return {node: editor.root, value: () => editor.value(), editor};
  }
  if (f.kind === "class") {
    if (!m.classes.length) {
      const input = el("input", {type: "number", min: 0, value: 0, id: "input-class"});
      return {node: input, value: () => input.value};
    }
    const select = el("select", {id: "input-class"});
    for (const c of m.classes) select.append(el("option", {value: c.name}, c.name));
    return {node: select, value: () => select.value};
  }
  if (f.kind === "label_map") {
    const side = m.image_size / (f.scale || 1);
    const colors = (m.palette || []).map(hex);
    const n = f.num_classes || colors.length;
    while (colors.length < n) colors.push(hex([colors.length * 37 % 256, 128, 200]));
    const painter = new PixelPainter({id: "map-canvas", width: side, height: side, colors});
    const swatches = el("div", {class: "palette"});
    colors.slice(0, n).forEach((c, i) => {
      const b = el("button", {type: "button", title: `id ${i}`, "data-id": i, onclick: () => {
        painter.current = i;
        for (const x of swatches.children) x.classList.toggle("on", x === b);
      }});
      b.style.background = c;
      if (i === 1) b.classList.add("on");
      swatches.append(b);
    });
    const brush = el("input", {type: "range", min: 1, max: 16, value: painter.radius,
      oninput: (e) => { painter.radius = +e.target.value; }});
    const rgb = (v) => (m.palette && m.palette[v]) || [v, v, v];
    return {node: el("div", {}, painter.canvas, swatches, el("label", {}, "brush ", brush)),
            value: () => painter.dataURL(rgb)};
  }
  if (f.kind === "image") {
    const picture = new PictureInput({id: `input-${f.key}`, withMask});
    return {node: picture.root, picture,
            value: () => picture.url, mask: withMask ? () => picture.maskURL() : null};
  }
  if (f.kind === "mask") { // a mask without a picture to paint on: paint it alone
    const side = m.image_size / (f.scale || 1);
    const painter = new PixelPainter({id: "mask-canvas", width: side, height: side,
      colors: ["#000000", "#ffffff"]});
    return {node: painter.canvas, value: () => painter.dataURL((v) => v ? [255, 255, 255] : [0, 0, 0])};
  }
  const text = el("textarea", {id: `input-${f.key}`, placeholder: f.format});
  if (f.kind === "text") text.value = "a red circle above a blue square";
  return {node: text, value: () => text.value};
}

function collectInputs() {
  const inputs = {};
  for (const [name, w] of Object.entries(state.widgets)) {
    const v = w.value();
    if (v === null || v === undefined || (Array.isArray(v) && !v.length)) {
      throw new Error(`inputs.${name}: ${w.format.kind === "boxes" ? "draw at least one box" :
                                         "give this input"}`);
    }
    inputs[name] = v;
    if (w.mask) inputs.mask = w.mask();
  }
  if (state.start && state.start.url) {
    if (!state.start.painter.painted()) throw new Error("inputs.mask: paint the region to generate");
    inputs.image = state.start.url;
    inputs.mask = state.start.maskURL();
  }
  return inputs;
}

function request() {
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  const m = state.model;
  const scale = $("scale").disabled || num("scale") === m.scale ? null : num("scale");
  return {model: m.name, inputs: collectInputs(), steps: num("steps"), seed: num("seed") || 0,
          num_samples: num("num-samples") || 1, scale,
          sampler: $("sampler").value === m.sampler ? null : $("sampler").value,
          size: num("size") === m.image_size ? null : num("size")};
}

// ---------------------------------------------------------------- a job's life
async function generate() {
  showError("");
  let body;
  try { body = request(); } catch (e) { showError(e.message); return; }
  try {
    const {id} = await api("POST", "/api/generate", body);
    follow(id);
  } catch (e) { showError(e.message); }
}

function follow(id) {
  state.job = id;
  $("cancel").disabled = false;
  $("progress").value = 0;
  $("progress-text").textContent = "queued";
  $("preview").hidden = true;
  delete $("preview").dataset.job;
  if (state.source) state.source.close();
  const source = new EventSource(`/api/jobs/${id}/events`);
  state.source = source;
  source.addEventListener("job", (e) => {
    const job = JSON.parse(e.data);
    const p = job.progress;
    $("progress").value = p.fraction;
    $("progress-text").textContent = job.status === "running" ?
      `step ${p.step} / ${p.total}` : job.status + (job.error ? `: ${job.error}` : "");
    if (job.preview) {
      $("preview").src = job.preview; $("preview").dataset.job = job.id; $("preview").hidden = false;
    }
    if (["done", "failed", "cancelled"].includes(job.status)) {
      source.close();
      $("cancel").disabled = true;
      if (job.status === "failed") showError(job.error);
      if (job.status === "done") addResult(job);
    }
  });
}

async function cancel() {
  if (!state.job) return;
  try { await api("POST", `/api/jobs/${state.job}/cancel`); } catch (e) { showError(e.message); }
}

// ---------------------------------------------------------------- gallery
function addResult(job) {
  const p = job.params;
  const img = el("img", {src: job.image, alt: "result", "data-job": job.id});
  const command = el("code", {class: "cli"}, job.command);
  const copy = el("button", {type: "button", class: "copy-cli", onclick: async () => {
    try { await navigator.clipboard.writeText(job.command); copy.textContent = "copied"; }
    catch (e) { // no clipboard (insecure context): select the text for Ctrl-C
      const range = document.createRange(); range.selectNodeContents(command);
      getSelection().removeAllRanges(); getSelection().addRange(range);
      copy.textContent = "selected: press Ctrl-C";
    }
  }}, "copy as CLI");
  const use = el("button", {type: "button", class: "use-picture", onclick: () => usePicture(job)},
                 "use as picture");
  const inputs = Object.entries(p.inputs).map(([k, v]) => `${k}: ${String(v).slice(0, 80)}`);
  const card = el("div", {class: "result", "data-job": job.id}, img,
    el("div", {}, `${p.model} · seed ${p.seed} · ${p.steps || "default"} steps` +
                  (p.scale !== null ? ` · scale ${p.scale}` : "") +
                  (p.sampler ? ` · ${p.sampler}` : "") + ` · ${p.image_size.join("x")}`),
    el("div", {class: "hint"}, inputs.join("; ")), command, copy, use);
  $("gallery").prepend(card);
}

// The first sample of a result as the picture of an image input (or the start picture).
function usePicture(job) {
  const [h, w] = job.params.image_size;
  const src = new Image();
  src.onload = () => {
    const c = el("canvas", {width: w, height: h});
    c.getContext("2d").drawImage(src, 0, 0, w, h, 0, 0, w, h);
    const url = c.toDataURL("image/png");
    const target = Object.values(state.widgets).find((x) => x.picture);
    if (target) target.picture.set(url);
    else if (state.start) { $("start-section").open = true; state.start.set(url); }
  };
  src.src = job.image;
}

init().catch((e) => showError(e.message));
