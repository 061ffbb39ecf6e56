// annkit attention explorer, drawn in the browser: where does the pixel under the pointer look?
//
// One ES module, two hosts: anywidget calls `render({model, el})` in JupyterLab / Notebook 7 / VS Code; a
// standalone page (`annkit.viz.explorer.standalone_html`) calls the same `render` with a plain object as model.
// The model's "data" (built by `annkit.viz.explorer.explorer_payload`) holds the image, each capture's prediction
// and, per attention block, the (N, S) attention as float16, the anchors' rectangles on the key map and the
// pyramid's grids. Every pointer event is answered here, with no kernel: a query row a (S,) is read from the
// table, back-projected (each anchor's weight spread uniformly over the rectangle it pooled, exactly as
// `annkit.viz.maps.backproject`), split into per-level grids, ranked for the top k, and drawn on canvases.

const F16 = (() => {  // float16 bit pattern → float32, all 65,536 of them
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
    table[h] = exponent === 0 ? sign * 2 ** -14 * (fraction / 1024)
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
      : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return table;
})();

function bytes(base64) {
  const text = atob(base64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function float16(base64) {  // little-endian float16 → Float32Array
  const raw = bytes(base64), half = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = F16[half[i]];
  return out;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "style") Object.assign(node.style, value); else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function digits(weight) {  // weights with enough digits to tell them apart: 3 significant, never "0.01" ×5
  return weight >= 0.1 ? weight.toFixed(3) : weight.toPrecision(3);
}

const STYLE = `
.ak-root { font: 12px/1.35 system-ui, sans-serif; color: #222; }
.ak-controls, .ak-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: center; margin: 4px 0; }
.ak-legend span.sw { display: inline-block; width: 11px; height: 11px; margin-right: 3px; border: 1px solid #888;
  vertical-align: -1px; }
.ak-panels { display: flex; flex-wrap: wrap; gap: 18px; }
.ak-panel { border-top: 2px solid #ddd; padding-top: 4px; }
.ak-views { display: flex; gap: 10px; }
.ak-stack { position: relative; cursor: crosshair; touch-action: none; }
.ak-stack canvas { position: absolute; left: 0; top: 0; }
.ak-heat, .ak-grid { image-rendering: pixelated; }
.ak-heat { opacity: 0.6; }
figure.ak-fig { margin: 0; }
figure.ak-fig figcaption { max-width: 330px; }
.ak-grids { display: flex; gap: 8px; margin-top: 6px; align-items: flex-end; }
.ak-grids div { text-align: center; }
.ak-grid { border: 1px solid #999; display: block; }
.ak-bar { display: flex; align-items: center; gap: 4px; font-size: 11px; }
.ak-bar canvas { width: 90px; height: 9px; border: 1px solid #999; image-rendering: pixelated; }
table.ak-top { border-collapse: collapse; margin-top: 4px; font-variant-numeric: tabular-nums; }
table.ak-top td, table.ak-top th { padding: 0 6px; text-align: right; }
table.ak-top td:nth-child(2), table.ak-top th:nth-child(2) { text-align: left; }
.ak-note { color: #555; max-width: 700px; }
`;

function colourBar(colormap) {
  const canvas = element("canvas", { width: 256, height: 1 });
  const context = canvas.getContext("2d"), image = context.createImageData(256, 1);
  colormap.forEach(([r, g, b], i) => image.data.set([r, g, b, 255], 4 * i));
  context.putImageData(image, 0, 0);
  const high = element("span");
  return { node: element("span", { class: "ak-bar" }, "0", canvas, high), high };
}

class Block {  // one block's attention table and geometry, decoded once
  constructor(spec) {
    Object.assign(this, spec);
    this.table = float16(spec.weights);  // (N·S,)
    this.S = spec.levels.length;
    this.area = spec.boxes.map(([y0, x0, y1, x1]) => (y1 - y0) * (x1 - x0));
    this.starts = [];
    let start = 0;
    for (const [r, c] of spec.grids) { this.starts.push(start); start += r * c; }
  }

  queryIndex(x, y, width, height) {  // as BlockAttention.query_index: the query cell covering image pixel (x, y)
    const [h, w] = this.query;
    const fy = Math.min(Math.max(Math.floor(y * h / height), 0), h - 1);
    const fx = Math.min(Math.max(Math.floor(x * w / width), 0), w - 1);
    return fy * w + fx;
  }

  row(n) { return this.table.subarray(n * this.S, (n + 1) * this.S); }

  levelMass(row) {
    const mass = new Float64Array(this.grids.length);
    for (let s = 0; s < this.S; s++) mass[this.levels[s]] += row[s];
    return mass;
  }

  // as plot_query's heat: level null = all levels; normalize "level" rescales each level to sum to 1
  backproject(row, level, normalize, heat) {
    const [, kw] = this.key, levels = this.grids.length;
    const mass = normalize === "level" ? this.levelMass(row) : null;
    heat.fill(0);
    for (let s = 0; s < this.S; s++) {
      const l = this.levels[s];
      if (level !== null && l !== level) continue;
      let weight = row[s];
      if (mass) weight = mass[l] > 0 ? weight / mass[l] / (level === null ? levels : 1) : 0;
      if (weight === 0) continue;
      const [y0, x0, y1, x1] = this.boxes[s], value = weight / this.area[s];
      for (let y = y0; y < y1; y++) for (let x = y * kw + x0, end = y * kw + x1; x < end; x++) heat[x] += value;
    }
    return heat;
  }
}

function topK(row, k) {
  const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);  // stable, as top_anchors
  return order.slice(0, Math.min(k, row.length));
}

function placeLabels(boxes, size, width, height) {  // greedy: first candidate spot that overlaps no earlier label
  const placed = [];
  return boxes.map(([x0, y0, x1, y1]) => {
    const candidates = [[x0 + 2, y0 + 2], [x1 - size[0] - 2, y0 + 2], [x0 + 2, y1 - size[1] - 2],
      [x1 - size[0] - 2, y1 - size[1] - 2], [x0, y0 - size[1] - 1], [x0, y1 + 1]];
    const fit = ([x, y]) => [Math.min(Math.max(x, 0), width - size[0]), Math.min(Math.max(y, 0), height - size[1])];
    const free = ([x, y]) => placed.every(([px, py]) => x + size[0] <= px || px + size[0] <= x || y + size[1] <= py ||
      py + size[1] <= y);
    let spot = candidates.map(fit).find(free);
    if (!spot) {  // stack below the lowest label that blocks the first spot
      spot = fit(candidates[0]);
      while (!free(spot) && spot[1] + size[1] < height) spot = [spot[0], spot[1] + size[1] + 1];
    }
    placed.push(spot);
    return spot;
  });
}

class Panel {  // one view: a capture's block, with its own block and level choice
  constructor(explorer, spec) {
    this.explorer = explorer;
    this.capture = explorer.captures[spec.capture];
    const { width, height, zoom } = explorer;
    const displayW = Math.round(width * zoom), displayH = Math.round(height * zoom);
    this.blockSelect = element("select", { class: "ak-block" });
    for (const name of Object.keys(this.capture.blocks)) {
      this.blockSelect.append(element("option", { value: name }, `${name} (${this.capture.blocks[name].kind})`));
    }
    this.blockSelect.value = spec.block;
    this.levelSelect = element("select", { class: "ak-level" });
    const stack = (layers) => {
      const node = element("div", { class: "ak-stack", style: { width: `${displayW}px`, height: `${displayH}px` } });
      for (const layer of layers) {
        Object.assign(layer.style, { width: `${displayW}px`, height: `${displayH}px` });
        node.append(layer);
      }
      explorer.listen(node);
      return node;
    };
    const ratio = window.devicePixelRatio || 1;
    const marks = () => element("canvas", { width: displayW * ratio, height: displayH * ratio, class: "ak-marks" });
    this.heatBase = element("canvas", { width, height });
    this.heat = element("canvas", { class: "ak-heat" });
    this.heatMarks = marks();
    this.topBase = element("canvas", { width, height });
    this.topMarks = marks();
    this.heatBar = colourBar(explorer.colormap);
    this.heatCaption = element("span");
    this.topCaption = element("span");
    this.grids = element("div", { class: "ak-grids" });
    this.gridBar = colourBar(explorer.colormap);
    this.table = element("table", { class: "ak-top" });
    this.node = element("div", { class: "ak-panel" },
      element("div", { class: "ak-controls" }, element("b", {}, spec.label),
        element("label", {}, "block ", this.blockSelect), element("label", {}, "pyramid level ", this.levelSelect)),
      element("div", { class: "ak-views" },
        element("figure", { class: "ak-fig" }, stack([this.heatBase, this.heat, this.heatMarks]),
          element("figcaption", {}, this.heatCaption, this.heatBar.node)),
        element("figure", { class: "ak-fig" }, stack([this.topBase, this.topMarks]),
          element("figcaption", {}, this.topCaption))),
      this.grids, this.table);
    this.blockSelect.addEventListener("change", () => { this.setBlock(); explorer.draw(); });
    this.levelSelect.addEventListener("change", () => explorer.draw());
    this.setBlock();
  }

  setBlock() {  // new block: its levels (the list always shows a named choice, "all levels" first) and grids
    this.block = this.capture.blocks[this.blockSelect.value];
    const [kh, kw] = this.block.key;
    Object.assign(this.heat, { width: kw, height: kh });
    this.heatValues = new Float64Array(kh * kw);
    this.heatImage = this.heat.getContext("2d").createImageData(kw, kh);
    this.levelSelect.replaceChildren(element("option", { value: "all" }, "all levels"),
      ...this.block.grids.map(([r, c], l) => element("option", { value: String(l) }, `${r}×${c}`)));
    this.levelSelect.value = "all";
    this.gridCanvases = this.block.grids.map(([r, c]) => {
      const side = 84 / Math.max(r, c);
      const canvas = element("canvas", { width: c, height: r, class: "ak-grid",
        style: { width: `${Math.round(c * side)}px`, height: `${Math.round(r * side)}px` } });
      return { canvas, title: element("div"), image: canvas.getContext("2d").createImageData(c, r) };
    });
    this.grids.replaceChildren(...this.gridCanvases.map(({ canvas, title }) => element("div", {}, title, canvas)),
      element("div", { class: "ak-note" }, this.gridBar.node));
  }

  paint(values, image, vmax) {  // values → colours of the shared colour map, 0 … vmax
    const { colormap } = this.explorer, data = image.data, top = vmax > 0 ? 255 / vmax : 0;
    for (let i = 0; i < values.length; i++) {
      const c = colormap[Math.min(255, Math.round(values[i] * top))];
      data[4 * i] = c[0]; data[4 * i + 1] = c[1]; data[4 * i + 2] = c[2]; data[4 * i + 3] = 255;
    }
  }

  drawBase() {  // the image, and under the top-k view the prediction overlay when asked for
    const explorer = this.explorer;
    this.heatBase.getContext("2d").drawImage(explorer.image, 0, 0);
    const context = this.topBase.getContext("2d");
    if (explorer.overlay.checked) context.putImageData(this.capture.overlay(explorer), 0, 0);
    else context.drawImage(explorer.image, 0, 0);
  }

  draw(x, y) {
    const { block } = this, explorer = this.explorer, k = explorer.k;
    const level = this.levelSelect.value === "all" ? null : Number(this.levelSelect.value);
    const normalize = explorer.normalize.value;
    const n = block.queryIndex(x, y, explorer.width, explorer.height), row = block.row(n);
    // where it looks: back-projection on the key map, stretched over the image (one canvas pixel = one cell)
    const heat = block.backproject(row, level, normalize, this.heatValues);
    let vmax = 0;
    for (let i = 0; i < heat.length; i++) if (heat[i] > vmax) vmax = heat[i];
    this.paint(heat, this.heatImage, vmax);
    this.heat.getContext("2d").putImageData(this.heatImage, 0, 0);
    const levelName = level === null ? "all levels" : `${block.grids[level][0]}×${block.grids[level][1]} level`;
    this.heatCaption.textContent = `where it looks (${levelName}, ${normalize === "level" ?
      "each level rescaled to sum to 1" : "weights as they are"}): attention per feature cell, `;
    this.heatBar.high.textContent = digits(vmax);
    // per-level grids: one colour scale for all levels unless asked otherwise
    const mass = block.levelMass(row), perLevel = explorer.scale.value === "level";
    let rowMax = 0;
    for (let s = 0; s < row.length; s++) if (row[s] > rowMax) rowMax = row[s];
    this.gridCanvases.forEach(({ canvas, title, image }, l) => {
      const values = row.subarray(block.starts[l], block.starts[l] + canvas.width * canvas.height);
      let max = 0;
      for (const v of values) if (v > max) max = v;
      this.paint(values, image, perLevel ? max : rowMax);
      canvas.getContext("2d").putImageData(image, 0, 0);
      title.textContent = `${canvas.height}×${canvas.width}: ${(100 * mass[l]).toFixed(1)}%` +
        (perLevel ? `, max ${digits(max)}` : "");
    });
    this.gridBar.high.textContent = perLevel ? "each level's max (per-level scale)" :
      `${digits(rowMax)} (one scale for all levels)`;
    // top-k anchors: ranked rectangles, labels that neither collide nor leave the image
    const best = topK(row, k);
    this.drawMarks(this.heatMarks, x, y, n, []);
    this.drawMarks(this.topMarks, x, y, n, best.map((s) => [s, row[s]]));
    this.topCaption.textContent = `top ${best.length} anchors (#rank, weight); line width ∝ weight`;
    const name = (s) => {
      const l = block.levels[s], [r, c] = block.grids[l], i = s - block.starts[l];
      return `${r}×${c} level, row ${Math.floor(i / c)}, col ${i % c}`;
    };
    this.table.replaceChildren(element("tr", {}, element("th", {}, "#"), element("th", {}, "anchor"),
      element("th", {}, "weight"), element("th", {}, "× uniform")),
      ...best.map((s, i) => element("tr", {}, element("td", {}, `${i + 1}`), element("td", {}, name(s)),
        element("td", {}, digits(row[s])), element("td", {}, (row[s] * row.length).toFixed(1)))));
  }

  drawMarks(canvas, x, y, n, anchors) {
    const explorer = this.explorer, { block } = this, ratio = canvas.width / explorer.width;
    const context = canvas.getContext("2d"), [h, w] = block.query, [kh, kw] = block.key;
    context.clearRect(0, 0, canvas.width, canvas.height);
    const sy = explorer.height / kh * ratio, sx = explorer.width / kw * ratio;
    const pixels = anchors.map(([s]) => {
      const [y0, x0, y1, x1] = block.boxes[s];
      return [x0 * sx, y0 * sy, x1 * sx, y1 * sy];
    });
    const top = anchors.length ? anchors[0][1] : 1;
    context.font = `${11 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
    const labels = anchors.map(([s, weight], i) => `#${i + 1} ${digits(weight)}`);
    const size = [Math.max(0, ...labels.map((t) => context.measureText(t).width)) + 6,
      14 * (window.devicePixelRatio || 1)];
    const spots = placeLabels(pixels, size, canvas.width, canvas.height);
    anchors.forEach(([, weight], i) => {  // boxes drawn inside their rectangle: nothing spills past the image
      const [x0, y0, x1, y1] = pixels[i], line = (1 + 4 * weight / top) * ratio;
      context.strokeStyle = explorer.rankColours[i % explorer.rankColours.length];
      context.lineWidth = line;
      context.strokeRect(x0 + line / 2, y0 + line / 2, Math.max(x1 - x0 - line, 1), Math.max(y1 - y0 - line, 1));
    });
    anchors.forEach((_, i) => {
      const [lx, ly] = spots[i];
      context.fillStyle = explorer.rankColours[i % explorer.rankColours.length];
      context.fillRect(lx, ly, size[0], size[1]);
      context.fillStyle = "white";
      context.textBaseline = "middle";
      context.fillText(labels[i], lx + 3, ly + size[1] / 2);
    });
    // the query: its feature cell and the pointer
    context.strokeStyle = "cyan";
    context.lineWidth = 1.5 * ratio;
    const qy = Math.floor(n / w), qx = n % w, cy = explorer.height / h * ratio, cx = explorer.width / w * ratio;
    context.strokeRect(qx * cx, qy * cy, cx, cy);
    context.beginPath();
    context.moveTo(x * ratio - 8 * ratio, y * ratio); context.lineTo(x * ratio + 8 * ratio, y * ratio);
    context.moveTo(x * ratio, y * ratio - 8 * ratio); context.lineTo(x * ratio, y * ratio + 8 * ratio);
    context.stroke();
  }
}

class Explorer {
  constructor(model, el, image) {
    const data = model.get("data");
    Object.assign(this, { model, el, image, width: data.width, height: data.height, k: data.k,
      colormap: data.colormap, rankColours: data.rank_colours });
    this.zoom = Math.min(3, 320 / Math.max(data.width, data.height));  // display size: ~320 px per view
    this.captures = data.captures.map((capture) => ({
      blocks: Object.fromEntries(Object.entries(capture.blocks).map(([name, spec]) => [name, new Block(spec)])),
      labels: bytes(capture.prediction),
      overlay(explorer) {  // class colours (the dataset's palette) blended over the image, computed once
        if (!this.cached) {
          const canvas = element("canvas", { width: explorer.width, height: explorer.height });
          const context = canvas.getContext("2d");
          context.drawImage(explorer.image, 0, 0);
          this.cached = context.getImageData(0, 0, explorer.width, explorer.height);
          const pixels = this.cached.data, palette = data.classes.map((c) => c.colour);
          for (let i = 0; i < this.labels.length; i++) {
            const colour = palette[this.labels[i]];
            if (!colour) continue;  // 255 = ignore: the image as it is
            for (let c = 0; c < 3; c++) pixels[4 * i + c] = 0.5 * pixels[4 * i + c] + 0.5 * colour[c];
          }
        }
        return this.cached;
      },
    }));
    this.normalize = element("select", {}, element("option", { value: "overall" }, "weights as they are"),
      element("option", { value: "level" }, "each level rescaled to sum to 1"));
    this.scale = element("select", {}, element("option", { value: "shared" }, "one colour scale for all levels"),
      element("option", { value: "level" }, "each level to its own max"));
    this.overlay = element("input", { type: "checkbox" });
    this.readout = element("span");
    this.panels = data.panels.map((spec) => new Panel(this, spec));
    const present = new Set(this.captures.flatMap((c) => Array.from(new Set(c.labels))));
    this.legend = element("div", { class: "ak-legend" }, "prediction:", ...data.classes.flatMap((c, i) =>
      present.has(i) ? [element("span", {}, element("span", { class: "sw", style: {
        background: c.colour ? `rgb(${c.colour.join(",")})` : "transparent" } }), c.name)] : []));
    el.replaceChildren(element("style", {}, STYLE), element("div", { class: "ak-root" },
      element("div", { class: "ak-controls" }, this.readout,
        element("label", {}, "back-projection ", this.normalize),
        element("label", {}, "level grids ", this.scale),
        element("label", {}, this.overlay, " prediction overlay (top-k view)")),
      this.legend,
      element("div", { class: "ak-panels" }, ...this.panels.map((p) => p.node)),
      element("div", { class: "ak-note" }, "Hover or drag over any image: every panel shows the same query pixel. " +
        "Click to pin the query (click again to release). Level grids: anchor rows × columns of each pyramid " +
        "level (1×1 pools the whole map), titled with the share of the attention mass the level holds.")));
    for (const control of [this.normalize, this.scale]) control.addEventListener("change", () => this.draw());
    this.overlay.addEventListener("change", () => { this.panels.forEach((p) => p.drawBase()); this.draw(); });
    this.pinned = false;
    this.latency = { draw: [], frame: [] };
    const point = model.get("point");
    [this.x, this.y] = point && point.length === 2 ? point : [data.width / 2, data.height / 2];
    model.on("change:point", () => { [this.x, this.y] = model.get("point"); this.draw(); });
    this.panels.forEach((p) => p.drawBase());
    this.draw();
  }

  listen(node) {  // pointer → image pixel → redraw every panel, synchronously, and time it
    const at = (event) => {
      const box = node.getBoundingClientRect();
      return [Math.min(Math.max((event.clientX - box.left) / box.width * this.width, 0), this.width - 1e-6),
        Math.min(Math.max((event.clientY - box.top) / box.height * this.height, 0), this.height - 1e-6)];
    };
    node.addEventListener("pointermove", (event) => {
      if (this.pinned && !event.buttons) return;
      this.move(at(event), event.timeStamp);
    });
    node.addEventListener("pointerdown", (event) => {
      this.pinned = !this.pinned;
      this.move(at(event), event.timeStamp);
      this.model.set("point", [this.x, this.y]);  // a pinned query is told to Python (when there is one)
      this.model.save_changes();
    });
  }

  move([x, y], start) {
    [this.x, this.y] = [x, y];
    this.draw();
    const drawn = performance.now();
    this.latency.draw.push(drawn - start);
    requestAnimationFrame(() => this.latency.frame.push(performance.now() - start));
    if (this.latency.draw.length > 5000) { this.latency.draw.splice(0, 2500); this.latency.frame.splice(0, 2500); }
  }

  draw() {
    for (const panel of this.panels) panel.draw(this.x, this.y);
    this.readout.textContent = `query pixel x = ${Math.floor(this.x)}, y = ${Math.floor(this.y)}` +
      (this.pinned ? " (pinned)" : "");
    this.el.dataset.drawn = String(Number(this.el.dataset.drawn || 0) + 1);
  }
}

async function render({ model, el }) {
  const image = new Image();
  image.src = model.get("data").image;
  await image.decode();
  const explorer = new Explorer(model, el, image);
  el.annkitExplorer = explorer;  // for tests and the latency benchmark
  el.dataset.ready = "1";
  const uid = model.get("data").uid;  // a live widget hides the kernel-free copy printed beside it
  const hideTwins = () => document.querySelectorAll(`.annkit-static[data-annkit-uid="${uid}"]`)
    .forEach((node) => { if (!model.static) node.style.display = "none"; });
  if (!model.static) [0, 300, 2000].forEach((ms) => setTimeout(hideTwins, ms));
}

export default { render };
