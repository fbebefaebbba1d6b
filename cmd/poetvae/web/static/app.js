// poetvae serve: the page. It talks to the server only through the JSON
// API (/api/...), the same calls that docs/REFERENCE.md documents for curl.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// el builds an element: el("div", {class: "x"}, child, "text", ...).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // not an attribute: the page's policy allows no inline style
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// api posts body to path and returns the answer, or throws an Error with
// the server's message.
async function api(path, body = {}) {
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new Error("the server does not answer (" + e.message + ")");
  }
  let data;
  try {
    data = await res.json();
  } catch (e) {
    throw new Error(`the server answered ${res.status} without JSON`);
  }
  if (!res.ok) throw new Error(data.error || `the server answered ${res.status}`);
  return data;
}

function showError(msg) {
  const box = $("#error");
  box.textContent = msg;
  box.hidden = !msg;
}

// busy disables a button while work runs and reports its error.
async function busy(button, work) {
  showError("");
  button.disabled = true;
  button.classList.add("working");
  try {
    await work();
  } catch (e) {
    showError(e.message);
  } finally {
    button.disabled = false;
    button.classList.remove("working");
  }
}

function showMessages(box, messages) {
  box.replaceChildren(...(messages || []).map((m) => el("p", {}, m)));
}

// ---- poems ----

const TONE_CLASS = {"平": "ping", "仄": "ze", "中": "either"};

// poemCard shows a poem with the tone class under each character, its
// rhyming line ends marked, and buttons that take it to the other views.
function poemCard(p, opts = {}) {
  const lines = p.lines || [];
  const rhymes = new Set(p.rhyme_lines || []);
  const body = el("div", {class: "poem", lang: "zh"});
  lines.forEach((line, i) => {
    const tones = (p.tones && p.tones[i]) ? Array.from(p.tones[i]) : [];
    const row = el("div", {class: "line"});
    Array.from(line).forEach((ch, j) => {
      const last = j === line.length - 1 && rhymes.has(i + 1);
      row.append(el("span", {class: "char" + (last ? " rhyme" : "")},
        el("span", {class: "han"}, ch),
        el("span", {class: "tone " + (TONE_CLASS[tones[j]] || "unknown")}, tones[j] || "?")));
    });
    row.append(el("span", {class: "punct"}, i % 2 === 0 ? "，" : "。"));
    body.append(row);
  });
  const facts = [];
  if (p.t !== undefined && p.t !== null) facts.push(`t = ${p.t.toFixed(3)}`);
  if (p.rhyme_group) facts.push(`rhyme ${p.rhyme_group}` + (p.rhymed ? "" : " (even lines do not rhyme)"));
  if (p.form) facts.push(`${p.form}, score ${p.score.toFixed(2)}`);
  if (p.pattern) facts.push(`written to ${p.pattern}`);
  const card = el("article", {class: "poem-card", "data-poem": p.poem},
    body,
    el("p", {class: "facts"}, facts.join(" · ")),
    p.near ? el("p", {class: "near"}, "drawn near ", el("span", {lang: "zh"}, p.near)) : null,
    (p.notes || []).length ? el("ul", {class: "notes"}, p.notes.map((n) =>
      el("li", {}, `line ${n.line}, position ${n.pos}: ${n.constraint} relaxed: ${n.detail}`))) : null,
  );
  if (opts.actions !== false) card.append(actions({poem: p.poem, z: p.z}));
  return card;
}

// actions are the buttons that take a poem (and its code, when it has one)
// to the other views.
function actions(item) {
  return el("div", {class: "actions"},
    el("button", {type: "button", onclick: () => sendToWalk("a", item)}, "walk from"),
    el("button", {type: "button", onclick: () => sendToWalk("b", item)}, "walk to"),
    el("button", {type: "button", onclick: () => sendToNeighbors(item)}, "neighbours"),
    el("button", {type: "button", onclick: () => sendToExplore(item)}, "explore"),
  );
}

// A text box holding a poem may also hold its code: the code is used while
// the text is the poem's, and dropped once it is edited.
const codes = new Map(); // textarea id -> {poem, z}

function setEnd(id, item) {
  const box = document.getElementById(id);
  box.value = item.poem || "";
  const note = document.getElementById(id + "-code") || document.getElementById(id.replace(/-poem$/, "") + "-code");
  if (item.z) {
    codes.set(id, item);
    if (note) note.textContent = "its code z is used (edit the poem to encode the text instead)";
  } else {
    codes.delete(id);
    if (note) note.textContent = "";
  }
}

function codeOf(id) {
  const item = codes.get(id);
  const box = document.getElementById(id);
  if (item && item.poem === box.value) return item.z;
  return null;
}

for (const id of ["walk-a", "walk-b", "neighbors-poem", "explore-poem"]) {
  document.getElementById(id).addEventListener("input", () => setEnd(id, {poem: document.getElementById(id).value}));
}

function sendToWalk(end, item) {
  setEnd("walk-" + end, item);
  location.hash = "#walk";
}

function sendToNeighbors(item) {
  setEnd("neighbors-poem", item);
  location.hash = "#neighbors";
  $("#neighbors-submit").click();
}

function sendToExplore(item) {
  setEnd("explore-poem", item);
  location.hash = "#explore";
  $("#explore-submit").click();
}

// The defaults of each call's fields, the command line's (from /api/info).
const defaults = new Map(); // form -> {field: default}

// showDefaults fills a form's inputs with the defaults of the call it
// makes, except those that hold a value of the page's own (data-keep).
function showDefaults(form, fieldDefaults) {
  defaults.set(form, fieldDefaults || {});
  for (const input of $$("[name]", form)) {
    const d = (fieldDefaults || {})[input.name];
    if (d === undefined || "keep" in input.dataset) continue;
    if (input.type === "checkbox") input.checked = d === true;
    else if (typeof d === "number" && d === 0 && input.placeholder) input.value = "";
    else input.value = String(d);
  }
}

// formFields reads a form's named inputs into API fields: numbers as
// numbers, check boxes as true when checked. Empty fields and those that
// hold the call's default are left out, so that the server applies its
// defaults, the command line's, as it does to flags not given.
function formFields(form) {
  const body = {};
  const d = defaults.get(form) || {};
  for (const input of $$("[name]", form)) {
    if (input.disabled) continue;
    const name = input.name;
    let v;
    if (input.type === "checkbox") {
      v = input.checked;
      if (!v && d[name] === undefined) continue;
    } else if (input.type === "number" || "number" in input.dataset) {
      if (input.value === "") continue;
      v = Number(input.value);
    } else {
      if (input.value.trim() === "" && !d[name]) continue;
      v = input.value.trim();
    }
    if (d[name] === v) continue;
    body[name] = v;
  }
  return body;
}

// ---- views ----

const VIEWS = ["write", "walk", "map", "neighbors", "explore"];

function showView() {
  let name = location.hash.replace(/^#/, "");
  if (!VIEWS.includes(name)) name = "write";
  for (const v of VIEWS) $("#view-" + v).hidden = v !== name;
  for (const a of $$("#tabs a")) a.classList.toggle("active", a.dataset.view === name);
  if (name === "map") loadMap().then(() => mapView.resize()).catch((e) => showError(e.message));
  if (name === "explore") loadMap().then(buildSliders).catch((e) => showError(e.message));
}
window.addEventListener("hashchange", showView);

// ---- Write ----

{
  const lines = Number(document.body.dataset.lines);
  const select = $("#write-lines");
  for (const n of lines === 8 ? [8, 4, 2] : [4, 2]) select.append(el("option", {value: n}, n));
  select.value = String(lines);
}

$("#write-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  busy($("#write-submit"), async () => {
    await infoLoaded;
    const body = formFields($("#write-form"));
    const out = await api("/api/generate", body);
    const msgs = out.messages || [];
    msgs.push(`seed ${out.seed}`);
    showMessages($("#write-messages"), msgs);
    $("#write-results").replaceChildren(...out.poems.map((p) => poemCard(p)));
  });
});

// ---- Walk ----

const walk = {path: [], timer: null};

$("#walk-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  busy($("#walk-submit"), async () => {
    await infoLoaded;
    const body = formFields($("#walk-form"));
    for (const end of ["a", "b"]) {
      const z = codeOf("walk-" + end);
      if (z) body["z" + end] = z;
      else body[end] = document.getElementById("walk-" + end).value.trim();
    }
    const out = await api("/api/interpolate", body);
    walk.path = out.poems;
    showMessages($("#walk-messages"), out.messages);
    const slider = $("#walk-slider");
    slider.max = String(out.poems.length - 1);
    slider.value = "0";
    $("#walk-path").replaceChildren(...out.poems.map((p, i) =>
      el("li", {"data-i": i, lang: "zh", onclick: () => walkTo(i)}, el("span", {class: "t"}, p.t.toFixed(3)), " ", p.poem)));
    $("#walk-ends").replaceChildren(...out.ends.map((e, i) => {
      if (!e) return el("p", {}, `${"AB"[i]} was given as a code.`);
      const pct = Math.round(100 * e.recovered);
      return el("p", {class: e.reconstructs ? "ok" : "off"},
        `${"AB"[i]} `, e.reconstructs ? "reconstructs to itself" :
          [`decodes to the poem at t = ${i}, not to `, el("span", {lang: "zh"}, e.input), ` (${pct}% of its characters recovered)`]);
    }));
    $("#walk-player").hidden = false;
    walkTo(0);
  });
});

function walkTo(i) {
  const p = walk.path[i];
  if (!p) return;
  $("#walk-slider").value = String(i);
  $("#walk-t").textContent = `t = ${p.t.toFixed(3)}`;
  $("#walk-current").replaceChildren(poemCard(p));
  for (const li of $$("#walk-path li")) li.classList.toggle("current", Number(li.dataset.i) === i);
}

$("#walk-slider").addEventListener("input", (ev) => walkTo(Number(ev.target.value)));

$("#walk-play").addEventListener("click", () => {
  const button = $("#walk-play");
  if (walk.timer) {
    clearInterval(walk.timer);
    walk.timer = null;
    button.textContent = "▶";
    return;
  }
  let i = Number($("#walk-slider").value);
  if (i >= walk.path.length - 1) i = -1;
  button.textContent = "❚❚";
  walk.timer = setInterval(() => {
    i++;
    walkTo(i);
    if (i >= walk.path.length - 1) {
      clearInterval(walk.timer);
      walk.timer = null;
      button.textContent = "▶";
    }
  }, 700);
});

// ---- Map ----

let mapData = null;
let mapLoading = null;

// loadMap fetches the map once; while the server is still encoding its
// poems (503 with Retry-After), it says so and asks again.
function loadMap() {
  if (!mapLoading) {
    mapLoading = (async () => {
      for (;;) {
        const res = await fetch("/api/map", {method: "GET"});
        const data = await res.json();
        const wait = Number(res.headers.get("Retry-After"));
        if (res.status === 503 && wait > 0) {
          for (const id of ["#map-axes", "#explore-messages"]) $(id).textContent = data.error;
          await new Promise((resolve) => setTimeout(resolve, 1000 * wait));
          continue;
        }
        if (!res.ok) throw new Error(data.error);
        $("#explore-messages").textContent = "";
        mapData = data;
        mapView.init(data);
        return data;
      }
    })();
    mapLoading.catch(() => { mapLoading = null; });
  }
  return mapLoading;
}

// Eight colours that stay apart for most eyes (Okabe and Ito), then grey.
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
const OTHER = "#b8b8b8";

const mapView = {
  data: null,
  scale: 1, cx: 0, cy: 0, // data coordinates at the centre, pixels per unit
  coloring: 0,
  found: null,      // Set of indices matching the search, or null
  hover: -1,
  selected: -1,
  marks: [],        // indices to ring (neighbours)

  init(data) {
    this.data = data;
    const select = $("#map-color");
    select.replaceChildren(...data.colorings.map((c, i) => el("option", {value: i}, c.title)));
    const axes = data.axes.slice(0, 2).map((a, i) => `PC${i + 1} ${(100 * a.share).toFixed(0)}%`);
    $("#map-axes").textContent = data.count ?
      `${data.count} poems of ${data.source}: their codes (posterior means) on the plane of the first two principal components (${axes.join(", ")} of the variance).` :
      "This server has no poems to show: start it with --corpus FILE.";
    this.reset();
  },

  reset() {
    const d = this.data;
    if (!d || !d.count) return;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < d.count; i++) {
      x0 = Math.min(x0, d.x[i]); x1 = Math.max(x1, d.x[i]);
      y0 = Math.min(y0, d.y[i]); y1 = Math.max(y1, d.y[i]);
    }
    const c = $("#map-canvas");
    const w = c.clientWidth || 900, h = c.clientHeight || 600;
    this.cx = (x0 + x1) / 2;
    this.cy = (y0 + y1) / 2;
    this.scale = 0.9 * Math.min(w / Math.max(x1 - x0, 1e-6), h / Math.max(y1 - y0, 1e-6));
    this.draw();
  },

  resize() {
    const c = $("#map-canvas");
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(h * ratio);
      this.reset();
    }
    this.draw();
  },

  // toScreen returns the point of poem i in CSS pixels of the canvas.
  toScreen(i) {
    const c = $("#map-canvas");
    return {
      x: (this.data.x[i] - this.cx) * this.scale + c.clientWidth / 2,
      y: -(this.data.y[i] - this.cy) * this.scale + c.clientHeight / 2,
    };
  },

  // drawOrder lists the points grey first, so that the coloured groups
  // lie on top; it is kept for each colouring.
  drawOrder() {
    if (this.order && this.order.coloring === this.coloring) return this.order.list;
    const d = this.data, col = d.colorings[this.coloring];
    const grey = (i) => !col || col.of[i] < 0 || col.of[i] >= PALETTE.length;
    const list = [];
    for (let i = 0; i < d.count; i++) if (grey(i)) list.push(i);
    for (let i = 0; i < d.count; i++) if (!grey(i)) list.push(i);
    this.order = {coloring: this.coloring, list};
    return list;
  },

  colour(i) {
    const col = this.data.colorings[this.coloring];
    if (!col) return PALETTE[0];
    const g = col.of[i];
    return g >= 0 && g < PALETTE.length ? PALETTE[g] : OTHER;
  },

  draw() {
    const d = this.data;
    const c = $("#map-canvas");
    if (!d || !c.clientWidth) return;
    const ratio = c.width / c.clientWidth;
    const ctx = c.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, c.clientWidth, c.clientHeight);
    const r = d.count > 5000 ? 1.6 : d.count > 1000 ? 2.4 : 3.5;
    for (const i of this.drawOrder()) {
      const p = this.toScreen(i);
      const dim = this.found && !this.found.has(i);
      ctx.globalAlpha = dim ? 0.12 : 0.85;
      ctx.fillStyle = this.colour(i);
      ctx.beginPath();
      ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const ring = (i, colour, radius) => {
      if (i < 0) return;
      const p = this.toScreen(i);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(p.x, p.y, radius, 0, 2 * Math.PI);
      ctx.stroke();
    };
    if (this.found) for (const i of this.found) ring(i, "#222", r + 2);
    for (const i of this.marks) ring(i, "#c00", r + 3);
    ring(this.hover, "#000", r + 4);
    ring(this.selected, "#c00", r + 6);
    this.legend();
  },

  legend() {
    const col = this.data.colorings[this.coloring];
    const box = $("#map-legend");
    if (!col) { box.replaceChildren(); return; }
    const items = col.groups.slice(0, PALETTE.length).map((g, i) =>
      el("li", {}, el("span", {class: "swatch", style: `background:${PALETTE[i]}`}), `${g.name} (${g.count})`));
    const rest = col.groups.slice(PALETTE.length).reduce((n, g) => n + g.count, 0);
    const none = col.of.filter((g) => g < 0).length;
    if (rest + none > 0) items.push(el("li", {}, el("span", {class: "swatch", style: `background:${OTHER}`}), `other (${rest + none})`));
    box.replaceChildren(el("h3", {}, col.title), el("ul", {class: "legend"}, items));
  },

  // nearest returns the poem whose point is within reach of (x, y), or -1.
  nearest(x, y) {
    const d = this.data;
    let best = -1, bestD = 10 * 10;
    for (let i = 0; i < d.count; i++) {
      if (this.found && !this.found.has(i)) continue;
      const p = this.toScreen(i);
      const dd = (p.x - x) ** 2 + (p.y - y) ** 2;
      if (dd < bestD) { bestD = dd; best = i; }
    }
    return best;
  },

  select(i) {
    this.selected = i;
    this.draw();
    if (i < 0) return;
    const poem = this.data.poems[i];
    const box = $("#map-selected");
    const recon = el("div", {class: "recon"});
    box.replaceChildren(
      el("h3", {}, "Selected"),
      el("p", {class: "poem-text", lang: "zh"}, poem),
      el("p", {class: "facts"}, this.data.colorings.map((c) => c.of[i] >= 0 ? `${c.name} ${c.groups[c.of[i]].name}` : null).filter(Boolean).join(" · ")),
      actions({poem}),
      el("button", {type: "button", id: "map-reconstruct", onclick: (ev) => busy(ev.target, async () => {
        const out = await api("/api/reconstruct", {poem});
        recon.replaceChildren(el("p", {}, `reconstructs to (${Math.round(100 * out.recovered)}% of the characters recovered):`), poemCard(out.result));
      })}, "reconstruct"),
      recon,
    );
  },
};

{
  const c = $("#map-canvas");
  const tip = $("#map-tooltip");
  let drag = null;
  c.addEventListener("mousemove", (ev) => {
    if (!mapView.data) return;
    const rect = c.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    if (drag) {
      mapView.cx = drag.cx - (x - drag.x) / mapView.scale;
      mapView.cy = drag.cy + (y - drag.y) / mapView.scale;
      drag.moved = true;
      mapView.draw();
      return;
    }
    const i = mapView.nearest(x, y);
    if (i !== mapView.hover) {
      mapView.hover = i;
      mapView.draw();
    }
    if (i < 0) { tip.hidden = true; return; }
    const col = mapView.data.colorings[mapView.coloring];
    tip.replaceChildren(el("div", {lang: "zh", class: "poem-text"}, mapView.data.poems[i]),
      col && col.of[i] >= 0 ? el("div", {class: "facts"}, `${col.title}: ${col.groups[col.of[i]].name}`) : null);
    tip.style.left = `${x + 14}px`;
    tip.style.top = `${y + 14}px`;
    tip.hidden = false;
  });
  c.addEventListener("mouseleave", () => { tip.hidden = true; mapView.hover = -1; drag = null; mapView.draw(); });
  c.addEventListener("mousedown", (ev) => {
    const rect = c.getBoundingClientRect();
    drag = {x: ev.clientX - rect.left, y: ev.clientY - rect.top, cx: mapView.cx, cy: mapView.cy, moved: false};
  });
  c.addEventListener("mouseup", (ev) => {
    const wasDrag = drag && drag.moved;
    drag = null;
    if (wasDrag || !mapView.data) return;
    const rect = c.getBoundingClientRect();
    mapView.select(mapView.nearest(ev.clientX - rect.left, ev.clientY - rect.top));
  });
  c.addEventListener("wheel", (ev) => {
    if (!mapView.data) return;
    ev.preventDefault();
    const rect = c.getBoundingClientRect();
    const x = ev.clientX - rect.left - c.clientWidth / 2, y = ev.clientY - rect.top - c.clientHeight / 2;
    const f = Math.exp(-ev.deltaY * 0.0015);
    // Keep the point under the pointer where it is.
    mapView.cx += x / mapView.scale - x / (mapView.scale * f);
    mapView.cy -= y / mapView.scale - y / (mapView.scale * f);
    mapView.scale *= f;
    mapView.draw();
  }, {passive: false});
  window.addEventListener("resize", () => { if (!$("#view-map").hidden) mapView.resize(); });
  $("#map-color").addEventListener("change", (ev) => { mapView.coloring = Number(ev.target.value); mapView.draw(); });
  $("#map-reset").addEventListener("click", () => mapView.reset());
  $("#map-search").addEventListener("input", (ev) => {
    const q = ev.target.value.replace(/[\s，。,.、；;？?！!：:]/g, "");
    if (!q || !mapView.data) {
      mapView.found = null;
      $("#map-found").textContent = "";
    } else {
      mapView.found = new Set();
      mapView.data.poems.forEach((p, i) => { if (p.replace(/[，。]/g, "").includes(q)) mapView.found.add(i); });
      $("#map-found").textContent = `${mapView.found.size} of ${mapView.data.count} poems hold ${q}`;
      if (mapView.found.size === 1) mapView.select(mapView.found.values().next().value);
    }
    mapView.draw();
  });
}

// ---- Neighbours ----

$("#neighbors-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  busy($("#neighbors-submit"), async () => {
    const body = {k: Number($("#neighbors-k").value) || 10};
    const z = codeOf("neighbors-poem");
    if (z) body.z = z;
    else body.poem = $("#neighbors-poem").value.trim();
    const out = await api("/api/neighbors", body);
    showMessages($("#neighbors-messages"), out.messages);
    $("#neighbors-results").replaceChildren(...out.neighbors.map((n) =>
      el("li", {},
        el("span", {class: "poem-text", lang: "zh"}, n.poem),
        el("span", {class: "distance"}, ` distance ${n.distance.toFixed(3)}`),
        actions({poem: n.poem}))));
    if (mapData) {
      mapView.marks = out.neighbors.map((n) => n.index);
      mapView.draw();
    }
  });
});

// ---- Explore ----

const explore = {base: null, amounts: [], group: null, groupAmount: 0, seq: 0, timer: null};

function axesForExplore() {
  const latent = Number(document.body.dataset.latent);
  if (mapData && mapData.axes.length) return {mean: mapData.mean, axes: mapData.axes};
  // Without a map: the coordinate axes, one standard deviation of the prior.
  const axes = [];
  for (let k = 0; k < Math.min(8, latent); k++) {
    const v = new Array(latent).fill(0);
    v[k] = 1;
    axes.push({vector: v, sd: 1, share: 0});
  }
  return {mean: new Array(latent).fill(0), axes};
}

let slidersBuilt = false;

function buildSliders() {
  if (slidersBuilt) return;
  slidersBuilt = true;
  const {axes} = axesForExplore();
  explore.amounts = axes.map(() => 0);
  const box = $("#explore-sliders");
  box.replaceChildren(el("h3", {}, "Principal directions"), el("p", {class: "note"}, "in standard deviations of the codes along each"));
  axes.forEach((a, k) => {
    const out = el("output", {}, "0");
    const s = el("input", {type: "range", min: -3, max: 3, step: 0.1, value: 0, "data-axis": k, "aria-label": `PC${k + 1}`});
    s.addEventListener("input", () => {
      explore.amounts[k] = Number(s.value);
      out.textContent = Number(s.value).toFixed(1);
      scheduleDecode();
    });
    box.append(el("label", {class: "slider"}, `PC${k + 1}` + (a.share ? ` (${(100 * a.share).toFixed(0)}%)` : ""), s, out));
  });
  // Dynasty first (Tang to Song), then rhyme; authors are too many.
  const groupings = mapData ? mapData.colorings.filter((c) => c.groups.length >= 2 && c.name !== "author")
    .sort((a, b) => (b.name === "dynasty") - (a.name === "dynasty")) : [];
  if (groupings.length) {
    const by = el("select", {id: "explore-by"}, groupings.map((c) => el("option", {value: c.name}, c.name)));
    const from = el("select", {id: "explore-from"});
    const to = el("select", {id: "explore-to"});
    const fill = () => {
      const c = groupings.find((g) => g.name === by.value);
      const opts = () => c.groups.slice(0, 30).map((g) => el("option", {value: g.name}, `${g.name} (${g.count})`));
      from.replaceChildren(...opts());
      to.replaceChildren(...opts());
      if (c.groups.length > 1) to.value = c.groups[1].name;
    };
    fill();
    const out = el("output", {}, "0");
    const s = el("input", {type: "range", min: -1, max: 2, step: 0.05, value: 0, id: "explore-group", "aria-label": "along the direction between the groups"});
    const load = async () => {
      try {
        explore.group = from.value === to.value ? null :
          await api("/api/direction", {by: by.value, from: from.value, to: to.value});
        scheduleDecode();
      } catch (e) { showError(e.message); }
    };
    by.addEventListener("change", () => { fill(); load(); });
    from.addEventListener("change", load);
    to.addEventListener("change", load);
    s.addEventListener("input", () => {
      explore.groupAmount = Number(s.value);
      out.textContent = Number(s.value).toFixed(2);
      scheduleDecode();
    });
    box.append(el("h3", {}, "Between groups"),
      el("p", {class: "note"}, "from the mean code of one group towards another's: 1 moves by the whole difference"),
      el("div", {class: "group-pick"}, by, from, "→", to),
      el("label", {class: "slider"}, "amount", s, out));
    load();
  }
}

function exploreCode() {
  const {mean, axes} = axesForExplore();
  const z = (explore.base || mean).slice();
  axes.forEach((a, k) => {
    const amount = explore.amounts[k] * a.sd;
    if (amount) for (let j = 0; j < z.length; j++) z[j] += amount * a.vector[j];
  });
  if (explore.group && explore.groupAmount) {
    const g = explore.group;
    for (let j = 0; j < z.length; j++) z[j] += explore.groupAmount * g.length * g.vector[j];
  }
  return z;
}

function scheduleDecode() {
  clearTimeout(explore.timer);
  explore.timer = setTimeout(decodeExplore, 80);
}

async function decodeExplore() {
  const seq = ++explore.seq;
  try {
    const out = await api("/api/decode", {z: [exploreCode()]});
    if (seq !== explore.seq) return; // a later move has been sent
    showError("");
    $("#explore-current").replaceChildren(poemCard(out.poems[0]));
    showMessages($("#explore-messages"), out.messages);
  } catch (e) {
    if (seq === explore.seq) showError(e.message);
  }
}

$("#explore-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  busy($("#explore-submit"), async () => {
    await loadMap().catch(() => null);
    buildSliders();
    const z = codeOf("explore-poem");
    const text = $("#explore-poem").value.trim();
    if (z) explore.base = z;
    else if (text) explore.base = (await api("/api/reconstruct", {poem: text})).result.z;
    else explore.base = null;
    await decodeExplore();
  });
});

$("#explore-reset").addEventListener("click", () => {
  for (const s of $$("#explore-sliders input[type=range]")) {
    s.value = 0;
    s.dispatchEvent(new Event("input"));
  }
});

// The command line's defaults, shown in the forms.
const infoLoaded = fetch("/api/info").then((res) => res.json()).then((info) => {
  showDefaults($("#write-form"), info.defaults["/api/generate"]);
  showDefaults($("#walk-form"), info.defaults["/api/interpolate"]);
  return info;
}).catch((e) => showError("reading /api/info: " + e.message));

// For tests and the curious: the state of the page.
window.poetvae = {mapView, walk, explore, loadMap, infoLoaded};

showView();
