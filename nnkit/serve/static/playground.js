// nnkit Playground: the page. Every control is sent to the server, which validates it, trains the
// network with nnkit and streams back the state (kept in the URL hash with the Playground's keys),
// the points and the pictures. Nothing is fetched from anywhere but this page's own server.
"use strict";

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REGULARIZATION_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const ACTIVATION_LABELS = {relu: "ReLU", tanh: "Tanh", sigmoid: "Sigmoid", linear: "Linear"};
const FEATURES = [  // the Playground's INPUTS, in its order
  {key: "x", label: "X\u2081", f: (x, y) => x},
  {key: "y", label: "X\u2082", f: (x, y) => y},
  {key: "xSquared", label: "X\u2081\u00b2", f: (x, y) => x * x},
  {key: "ySquared", label: "X\u2082\u00b2", f: (x, y) => y * y},
  {key: "xTimesY", label: "X\u2081X\u2082", f: (x, y) => x * y},
  {key: "sinX", label: "sin(X\u2081)", f: (x, y) => Math.sin(x)},
  {key: "sinY", label: "sin(X\u2082)", f: (x, y) => Math.sin(y)},
];
const DATASETS = {
  classification: ["circle", "xor", "gauss", "spiral"],
  regression: ["reg-plane", "reg-gauss"],
};
const PLAYGROUND_ADDRESS = "https://playground.tensorflow.org/#";

// The Playground's colour scale: orange (-1), light grey (0), blue (+1).
const ORANGE = [245, 147, 34], GREY = [232, 234, 235], BLUE = [8, 119, 189];
const PALETTE = (() => {
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const v = i / 127.5 - 1, a = v < 0 ? ORANGE : BLUE, t = Math.abs(v);
    for (let c = 0; c < 3; c++) table[3 * i + c] = Math.round(GREY[c] + (a[c] - GREY[c]) * t);
  }
  return table;
})();
const colour = (v) => {
  const i = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
  return `rgb(${PALETTE[3 * i]},${PALETTE[3 * i + 1]},${PALETTE[3 * i + 2]})`;
};

const page = {
  socket: null, state: null, fragment: "", choices: null, limits: null,
  points: {train: [], test: []}, frame: null, history: [], modelVersion: -1, historyVersion: -1,
  shape: null, problem: null, playing: false,
};
const $ = (id) => document.getElementById(id);

// -- talking to the server --------------------------------------------------------------------
function connect() {
  const socket = new WebSocket(`ws://${location.host}/ws`);
  page.socket = socket;
  socket.onopen = () => {
    $("connection").textContent = "connected: training runs in nnkit on this machine";
    send({type: "hello", hash: location.hash.slice(1), ack: true});
  };
  socket.onclose = () => {
    $("connection").textContent = "disconnected: reload the page to start again";
    setPlaying(false);
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "state") onState(message);
    else if (message.type === "error") onError(message);
    else if (message.type === "data") onData(message);
    else if (message.type === "frame") onFrame(message);
  };
}

function send(message) {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) {
    page.socket.send(JSON.stringify(message));
    if (message.type !== "pause" && message.type !== "ack") expectFrame();
  }
}

// A first use of a network depth on the numba backend compiles its training step (seconds):
// say so when a frame is slow to come, so a long wait does not look like a hang.
function expectFrame() {
  clearTimeout(page.busyTimer);
  page.busyTimer = setTimeout(() => {
    $("busy").textContent = `working on the ${page.state ? page.state.backend : ""} backend` +
      " (the first run of a network depth compiles its kernels once)\u2026";
  }, 800);
}

function frameArrived() {
  clearTimeout(page.busyTimer);
  $("busy").textContent = "";
}

function setControl(key, value) {
  send({type: "set", values: {[key]: value}});
  // the next click builds on this change; the server's answer (or its refusal) then sets the state
  if (page.state) page.state[key] = value;
}

function onState(message) {
  if (message.choices) buildChoices(message.choices);
  applyState(message.state, message.fragment);
  setPlaying(message.playing);
  showMessage(message.warnings && message.warnings.length ? message.warnings.join("; ") : "", "note");
}

function onError(message) {
  frameArrived();
  applyState(message.state, message.fragment);  // the controls go back to what the server runs
  setPlaying(message.playing);
  showMessage(message.message, "error");
}

function onData(message) {
  page.points = {train: message.train, test: message.test};
  drawPoints();
}

function onFrame(frame) {
  frameArrived();
  if (frame.history_version !== page.historyVersion) {  // a new network, or a thinned curve
    page.history = [];
    page.historyVersion = frame.history_version;
  }
  page.modelVersion = frame.model_version;
  for (const row of frame.history) {
    if (page.history.length && page.history[page.history.length - 1][0] === row[0]) page.history.pop();
    page.history.push(row);
  }
  page.frame = frame;
  $("epoch-number").textContent = formatEpoch(frame.epoch);
  $("loss-train").textContent = formatLoss(frame.train_loss);
  $("loss-test").textContent = formatLoss(frame.test_loss);
  drawHeatmap();
  drawNeurons();
  drawLinks();
  drawLossCurve();
  setPlaying(frame.playing);
  document.body.dataset.epoch = frame.epoch;
  document.body.dataset.modelVersion = frame.model_version;
  document.body.dataset.frames = String(Number(document.body.dataset.frames || 0) + 1);
  if (!document.body.dataset.firstFrameMs) document.body.dataset.firstFrameMs = String(Math.round(performance.now()));
  send({type: "ack"});  // drawn: the server trains the next stretch
}

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = text ? kind : "";
}

// -- the controls ------------------------------------------------------------------------------
function fillSelect(select, values, label) {
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = String(value);
    option.textContent = label ? label(value) : String(value);
    select.appendChild(option);
  }
}

function buildChoices(choices) {
  page.choices = choices;
  page.limits = choices.limits;
  fillSelect($("activation"), choices.activation, (a) => ACTIVATION_LABELS[a] || a);
  fillSelect($("backend"), choices.backend);
  fillSelect($("optimizer"), choices.optimizer, (o) => ({sgd: "SGD", adam: "Adam", adamw: "AdamW",
    adagrad: "Adagrad", rmsprop: "RMSprop"})[o] || o);
  fillSelect($("learningRate"), LEARNING_RATES);
  fillSelect($("regularizationRate"), REGULARIZATION_RATES);
}

function selectValue(select, value) {
  const text = String(value);
  if (![...select.options].some((o) => o.value === text)) {  // a link's value off the list
    const option = document.createElement("option");
    option.value = option.textContent = text;
    select.appendChild(option);
  }
  select.value = text;
}

function applyState(state, fragment) {
  page.state = state;
  page.fragment = fragment;
  history.replaceState(null, "", "#" + fragment);
  $("playground-link").href = PLAYGROUND_ADDRESS + fragment;
  for (const key of ["learningRate", "activation", "regularization", "regularizationRate", "problem",
                     "backend", "optimizer"]) selectValue($(key), state[key]);
  for (const key of ["percTrainData", "noise", "batchSize"]) {
    $(key).value = state[key];
    $(`${key}-value`).textContent = state[key];
  }
  $("showTestData").checked = state.showTestData;
  $("discretize").checked = state.discretize;
  $("regularizationRate").disabled = state.regularization === "none";
  if (page.problem !== state.problem) {
    page.problem = state.problem;
    buildDatasets();
  }
  for (const canvas of $("datasets").children) {
    const chosen = state.problem === "classification" ? state.dataset : state.regDataset;
    canvas.classList.toggle("selected", canvas.dataset.dataset === chosen);
  }
  for (const row of $("features").children) row.classList.toggle("on", state[row.dataset.feature]);
  const shape = state.networkShape.join(",");
  if (page.shape !== shape) {
    page.shape = shape;
    buildNetwork(state.networkShape);
  }
  showHiddenControls(state.hidden || []);
  drawPoints();
  drawHeatmap();
}

function showHiddenControls(hidden) {
  // A Playground link hides a control with <key>_hide=true (a lecture's link shows only what it teaches).
  for (const element of document.querySelectorAll("[data-key]")) {
    const box = element.closest(".control, .slider, .check") || element;
    box.classList.toggle("hidden", hidden.includes(element.dataset.key));
  }
  for (const row of $("features").children) row.classList.toggle("hidden", hidden.includes(row.dataset.feature));
}

function setPlaying(playing) {
  page.playing = playing;
  $("play-pause").classList.toggle("playing", playing);
}

function wireControls() {
  $("play-pause").onclick = () => send({type: page.playing ? "pause" : "play"});
  $("step-button").onclick = () => send({type: "step"});
  $("reset-button").onclick = () => send({type: "reset"});
  $("regenerate").onclick = () => send({type: "regenerate"});
  for (const key of ["learningRate", "regularizationRate"]) {
    $(key).onchange = (e) => setControl(key, Number(e.target.value));
  }
  for (const key of ["activation", "regularization", "problem", "backend", "optimizer"]) {
    $(key).onchange = (e) => setControl(key, e.target.value);
  }
  for (const key of ["percTrainData", "noise", "batchSize"]) {
    $(key).oninput = (e) => { $(`${key}-value`).textContent = e.target.value; };
    $(key).onchange = (e) => setControl(key, Number(e.target.value));
  }
  for (const key of ["showTestData", "discretize"]) {
    $(key).onchange = (e) => setControl(key, e.target.checked);
  }
  $("add-layer").onclick = () => {
    const shape = page.state.networkShape.slice();
    if (page.limits && shape.length >= page.limits.hidden_layers) return;
    shape.push(2);
    setControl("networkShape", shape);
  };
  $("remove-layer").onclick = () => {
    const shape = page.state.networkShape.slice(0, -1);
    if (shape.length < page.state.networkShape.length) setControl("networkShape", shape);
  };
  window.addEventListener("hashchange", () => {  // a link pasted into the address bar
    const hash = location.hash.slice(1);
    if (hash !== page.fragment) send({type: "open", hash});
  });
  window.addEventListener("resize", drawLinks);
}

// -- data set and feature thumbnails ----------------------------------------------------------
function thumbnailPoints(name) {
  // Small illustrative samples (not the experiment's points), drawn once per page.
  const points = [], r = (a, b) => a + Math.random() * (b - a);
  for (let i = 0; i < 120; i++) {
    const half = i % 2 === 0 ? 1 : -1;
    if (name === "circle") {
      const radius = half > 0 ? r(0, 2.5) : r(3.5, 5), a = r(0, 2 * Math.PI);
      points.push([radius * Math.sin(a), radius * Math.cos(a), half]);
    } else if (name === "xor") {
      const x = r(-5, 5), y = r(-5, 5);
      points.push([x, y, x * y >= 0 ? 1 : -1]);
    } else if (name === "gauss") {
      const c = half * 2;
      points.push([c + r(-1.6, 1.6), c + r(-1.6, 1.6), half]);
    } else if (name === "spiral") {
      const k = i / 2, rad = k / 60 * 5, t = 1.75 * k / 60 * 2 * Math.PI + (half > 0 ? 0 : Math.PI);
      points.push([rad * Math.sin(t), rad * Math.cos(t), half]);
    } else if (name === "reg-plane") {
      const x = r(-6, 6), y = r(-6, 6);
      points.push([x, y, (x + y) / 12]);
    } else {
      const x = r(-6, 6), y = r(-6, 6);
      const d = Math.min(Math.hypot(x - 2, y - 2), Math.hypot(x + 2, y + 2)) / 2.5;
      points.push([x, y, Math.max(-1, 1 - d)]);
    }
  }
  return points;
}

function buildDatasets() {
  const box = $("datasets");
  box.innerHTML = "";
  for (const name of DATASETS[page.problem]) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 56;
    canvas.dataset.dataset = name;
    canvas.title = name;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#e8eaeb";
    ctx.fillRect(0, 0, 56, 56);
    for (const [x, y, label] of thumbnailPoints(name)) {
      ctx.fillStyle = colour(label);
      ctx.beginPath();
      ctx.arc((x + 6) / 12 * 56, (6 - y) / 12 * 56, 1.6, 0, 2 * Math.PI);
      ctx.fill();
    }
    canvas.onclick = () => setControl(page.problem === "classification" ? "dataset" : "regDataset", name);
    box.appendChild(canvas);
  }
}

function buildFeatures() {
  const box = $("features");
  for (const feature of FEATURES) {
    const row = document.createElement("div");
    row.className = "feature";
    row.dataset.feature = feature.key;
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 20;
    const values = [];
    for (let i = 0; i < 20; i++) for (let j = 0; j < 20; j++) {
      values.push(feature.f(-6 + 12 * (j + 0.5) / 20, 6 - 12 * (i + 0.5) / 20));
    }
    const scale = Math.max(...values.map(Math.abs)) || 1;
    paint(canvas, Uint8Array.from(values, (v) => Math.round((v / scale + 1) * 127.5)), 20);
    const label = document.createElement("span");
    label.textContent = feature.label;
    row.append(label, canvas);  // the label left of its picture, the links leave on the right
    row.onclick = () => setControl(feature.key, !page.state[feature.key]);
    box.appendChild(row);
  }
}

// -- the network -------------------------------------------------------------------------------
function buildNetwork(shape) {
  $("layer-count").textContent = shape.length;
  $("layer-word").textContent = shape.length === 1 ? "hidden layer" : "hidden layers";
  const box = $("layers");
  box.innerHTML = "";
  shape.forEach((width, layer) => {
    const column = document.createElement("div");
    column.className = "layer";
    column.dataset.layer = layer;
    const head = document.createElement("div");
    head.className = "head";
    const add = document.createElement("button");
    add.className = "round tiny add-neuron";
    add.textContent = "+";
    add.title = "Add a neuron";
    add.onclick = () => changeWidth(layer, +1);
    const remove = document.createElement("button");
    remove.className = "round tiny remove-neuron";
    remove.textContent = "\u2212";
    remove.title = "Remove a neuron";
    remove.onclick = () => changeWidth(layer, -1);
    head.append(add, remove);
    const count = document.createElement("div");
    count.className = "count";
    count.textContent = width === 1 ? "1 neuron" : `${width} neurons`;
    column.append(head, count);
    for (let i = 0; i < width; i++) {
      const canvas = document.createElement("canvas");
      canvas.className = "neuron";
      canvas.width = canvas.height = 20;
      canvas.dataset.layer = layer;
      canvas.dataset.neuron = i;
      column.appendChild(canvas);
    }
    box.appendChild(column);
  });
}

function changeWidth(layer, delta) {
  const shape = page.state.networkShape.slice();
  shape[layer] += delta;
  if (shape[layer] < 1 || (page.limits && shape[layer] > page.limits.neurons_per_layer)) return;
  setControl("networkShape", shape);
}

function drawNeurons() {
  const frame = page.frame;
  if (!frame) return;
  frame.neurons.forEach((pictures, layer) => {
    pictures.forEach((picture, i) => {
      const canvas = document.querySelector(`canvas.neuron[data-layer="${layer}"][data-neuron="${i}"]`);
      if (canvas) paint(canvas, decode(picture), frame.neuron_grid);
    });
  });
}

function drawLinks() {
  // The links of the network, as the Playground draws them: inputs -> hidden layers -> output,
  // blue for a positive weight and orange for a negative one, wider for a larger |w| (the weights
  // come with each frame for networks small enough to draw).
  const canvas = $("links"), box = $("main-part");
  const rect = box.getBoundingClientRect();
  canvas.width = Math.ceil(rect.width);
  canvas.height = Math.ceil(rect.height);
  canvas.style.width = `${canvas.width}px`;
  canvas.style.height = `${canvas.height}px`;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const weights = page.frame && page.frame.weights;
  if (!weights) return;
  const place = (element) => {
    const r = element.getBoundingClientRect();
    return [r.left - rect.left, r.right - rect.left, (r.top + r.bottom) / 2 - rect.top];
  };
  const columns = [[...document.querySelectorAll("#features .feature.on canvas")].map(place)];
  for (const column of $("layers").children) columns.push([...column.querySelectorAll("canvas.neuron")].map(place));
  columns.push([place($("heatmap-box"))]);
  for (let layer = 1; layer < columns.length; layer++) {
    const w = weights[layer - 1];
    if (!w) continue;
    columns[layer - 1].forEach((from, i) => columns[layer].forEach((to, j) => {
      const value = w[i] && w[i][j];
      if (value === undefined) return;
      ctx.strokeStyle = colour(Math.max(-1, Math.min(1, value)));
      ctx.lineWidth = Math.min(4, 0.5 + 2 * Math.abs(value));
      ctx.beginPath();
      ctx.moveTo(from[1], from[2]);
      const middle = (from[1] + to[0]) / 2;
      ctx.bezierCurveTo(middle, from[2], middle, to[2], to[0], to[2]);
      ctx.stroke();
    }));
  }
}

// -- pictures ----------------------------------------------------------------------------------
function decode(base64) {
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function paint(canvas, bytes, size, discretize) {
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const b = discretize ? (bytes[i] >= 128 ? 255 : 0) : bytes[i];
    image.data[4 * i] = PALETTE[3 * b];
    image.data[4 * i + 1] = PALETTE[3 * b + 1];
    image.data[4 * i + 2] = PALETTE[3 * b + 2];
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

function drawHeatmap() {
  const frame = page.frame;
  if (!frame || !page.state) return;
  const discretize = page.state.discretize && page.state.problem === "classification";
  paint($("heatmap"), decode(frame.output), frame.grid, discretize);
}

function drawPoints() {
  const canvas = $("points"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const scale = canvas.width / 12;
  const draw = (rows, edge) => {
    for (const [x, y, label] of rows) {
      ctx.beginPath();
      ctx.arc((x + 6) * scale, (6 - y) * scale, 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = colour(label);
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = edge;
      ctx.stroke();
    }
  };
  draw(page.points.train, "#fff");
  if (page.state && page.state.showTestData) draw(page.points.test, "#000");
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, 0.5, canvas.width - 1, canvas.height - 1);
}

function drawLossCurve() {
  const canvas = $("loss-curve"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const rows = page.history;
  if (rows.length < 2) return;
  const last = rows[rows.length - 1][0] || 1;
  let top = 0;
  for (const [, train, test] of rows) top = Math.max(top, train || 0, test || 0);
  top = top || 1;
  const line = (index, style) => {
    ctx.strokeStyle = style;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    for (const row of rows) {
      if (row[index] === null) continue;
      const x = row[0] / last * (canvas.width - 2) + 1;
      const y = canvas.height - 2 - row[index] / top * (canvas.height - 4);
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
    }
    ctx.stroke();
  };
  line(2, "#000");  // test loss, as the Playground draws it
  line(1, "#888");  // training loss
}

function drawColorbar() {
  const canvas = $("colorbar"), ctx = canvas.getContext("2d");
  for (let x = 0; x < canvas.width; x++) {
    ctx.fillStyle = colour(x / (canvas.width - 1) * 2 - 1);
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}

function formatEpoch(epoch) {
  const digits = String(epoch).padStart(6, "0");
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function formatLoss(value) {
  return value === null || value === undefined ? "\u2013" : value.toFixed(3);
}

document.addEventListener("DOMContentLoaded", () => {
  buildFeatures();
  drawColorbar();
  wireControls();
  connect();
});
