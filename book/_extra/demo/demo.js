// The deployment page's live demo: the exported levels of one kept model, in float32 and int8, run
// by ONNX Runtime Web (WebAssembly, served with the book) on the test images shipped beside this
// file. Its assets (demo.json, images.bin, models/) are written by `python -m dvnlib demo`
// (dvnlib/demo.py). The byte budget is decided as net.level_for(task, max_bytes=...) decides it
// (dvnlib.budget.choose): per task, the file of the best accuracy the zoo measured on the run's test
// images whose size fits, ties to the smaller file. What this browser measured is written as JSON
// into #dvn-demo-results, which the book's browser test reads.
import * as ort from "../ort/ort.wasm.min.mjs";

const here = new URL(".", import.meta.url);
ort.env.wasm.wasmPaths = new URL("../ort/", import.meta.url).href;
// A plain HTTP server gives no cross-origin isolation, hence no WebAssembly threads: one thread,
// as the zoo's latencies in Python are measured.
ort.env.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);
const SAMPLE = 6; // images shown per task, with predicted and true labels

export function choose(files, task, maxBytes) {
  let best = null;
  for (const f of files) {
    if (f.task !== task || f.onnx_bytes > maxBytes) continue;
    if (best === null || f.onnx_accuracy > best.onnx_accuracy ||
        (f.onnx_accuracy === best.onnx_accuracy && f.onnx_bytes < best.onnx_bytes)) best = f;
  }
  return best;
}

function argmax(a) {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i;
  return k;
}

async function classify(meta, raw, file, task) {
  const session = await ort.InferenceSession.create(new URL(file.file, here).href,
                                                    {executionProviders: ["wasm"], graphOptimizationLevel: "all"});
  const [c, h, w] = task.shape;
  const size = c * h * w;
  const image = (i) => new ort.Tensor("uint8", raw.slice(task.offset + i * size, task.offset + (i + 1) * size),
                                      [1, c, h, w]);
  const inputs = Array.from({length: task.count}, (_, i) => image(i));
  await session.run({[meta.input]: inputs[0]}); // warm-up, untimed
  // One image at a time, timed as a whole: browsers coarsen performance.now() (to 0.1 ms without
  // cross-origin isolation), too coarse for one image of a small level.
  const preds = [];
  const t0 = performance.now();
  for (const x of inputs) {
    const out = await session.run({[meta.input]: x});
    preds.push(argmax(out[meta.output].data));
  }
  const latency = (performance.now() - t0) / task.count;
  await session.release();
  const correct = preds.filter((p, i) => p === task.labels[i]).length;
  return {preds, accuracy: 100 * correct / task.count, n: task.count, latency_ms: latency};
}

function drawImage(raw, task, i) {
  const [c, h, w] = task.shape;
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  canvas.style.width = `${3 * w}px`; canvas.style.imageRendering = "pixelated";
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const base = task.offset + i * c * h * w;
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = raw[base + (c === 1 ? p : k * h * w + p)];
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function render(meta, raw, measured) {
  const budget = Number($("dvn-demo-budget").value);
  const chosen = meta.tasks.map((t) => {
    const f = choose(meta.files, t.task, budget);
    return {task: t.task, level: f ? f.level : null, precision: f ? f.precision : null,
            bytes: f ? f.onnx_bytes : null};
  });
  const out = $("dvn-demo-tables");
  out.replaceChildren();
  for (const t of meta.tasks) {
    const pick = chosen.find((c) => c.task === t.task);
    const h = document.createElement("h4");
    h.textContent = `Task ${t.task}: ${t.name}` + (pick.level === null ? " (no file fits this budget)" :
      ` (the budget picks level ${pick.level}, ${pick.precision})`);
    const table = document.createElement("table");
    table.className = "dvn-demo-table";
    table.innerHTML = "<thead><tr><th>level</th><th>precision</th><th>file (kB)</th>" +
      "<th>accuracy, zoo (%)</th><th>accuracy here (%)</th><th>images</th><th>latency here (ms/image, mean)</th>" +
      "<th>latency, ONNX Runtime in Python (ms/image, median)</th></tr></thead>";
    const body = table.createTBody();
    for (const m of measured.filter((m) => m.task === t.task)) {
      const row = body.insertRow();
      const on = m.level === pick.level && m.precision === pick.precision;
      if (on) row.style.fontWeight = "bold";
      for (const v of [m.level + (on ? " (chosen)" : ""), m.precision, (m.bytes / 1024).toFixed(0),
                       m.recorded_accuracy.toFixed(1), m.accuracy.toFixed(1), m.n, m.latency_ms.toFixed(3),
                       m.python_latency_ms.toFixed(3)]) {
        row.insertCell().textContent = v;
      }
    }
    out.append(h, table);
    if (pick.level !== null) {
      const m = measured.find((m) => m.task === t.task && m.level === pick.level && m.precision === pick.precision);
      const strip = document.createElement("div");
      strip.style.display = "flex"; strip.style.flexWrap = "wrap"; strip.style.gap = "10px";
      for (let i = 0; i < Math.min(SAMPLE, t.count); i++) {
        const fig = document.createElement("figure");
        fig.style.margin = "0"; fig.style.textAlign = "center"; fig.style.fontSize = "0.75em";
        const cap = document.createElement("figcaption");
        const ok = m.preds[i] === t.labels[i];
        cap.textContent = `${t.classes[m.preds[i]]} ${ok ? "✓" : "✗"} (true: ${t.classes[t.labels[i]]})`;
        fig.append(drawImage(raw, t, i), cap);
        strip.append(fig);
      }
      out.append(strip);
    }
  }
  $("dvn-demo-results").textContent = JSON.stringify({
    scenario: meta.scenario, profile: meta.profile, seed: meta.seed, key: meta.key, budget_bytes: budget,
    threads: ort.env.wasm.numThreads, done: true,
    results: measured.map(({preds, ...m}) => m), chosen,
  });
}

async function main() {
  const status = $("dvn-demo-status");
  try {
    const meta = await (await fetch(new URL("demo.json", here))).json();
    const raw = new Uint8Array(await (await fetch(new URL("images.bin", here))).arrayBuffer());
    const measured = [];
    for (const f of meta.files) {
      const task = meta.tasks.find((t) => t.task === f.task);
      status.textContent = `Classifying ${task.count} images of task ${f.task} with level ${f.level} ` +
        `(${f.precision}) in this browser: ${measured.length + 1} of ${meta.files.length} files...`;
      const r = await classify(meta, raw, f, task);
      measured.push({task: f.task, level: f.level, precision: f.precision, bytes: f.onnx_bytes,
                     recorded_accuracy: f.onnx_accuracy, python_latency_ms: f.latency_ms, ...r});
    }
    status.textContent = `Done: ${meta.files.length} files, each on ${meta.images_per_task} test images per task, ` +
      "run by ONNX Runtime Web (WebAssembly, one thread) in this browser. Change the budget to choose again.";
    $("dvn-demo-budget").addEventListener("input", () => render(meta, raw, measured));
    render(meta, raw, measured);
  } catch (e) {
    status.textContent = `The demo could not run here (${e}). It needs the book served over HTTP ` +
      "(browsers refuse WebAssembly from file://): see the README for the one command.";
    $("dvn-demo-results").textContent = JSON.stringify({done: false, error: String(e)});
  }
}

main();
