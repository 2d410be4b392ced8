// Models: the model lists of Predict and of the feature maps, and Predict itself (uploads classified, with the
// input the model saw).
import { api, apiBlob, enc } from './api.js';
import { $, announce, b64url, h, showError } from './dom.js';
import { fmtNum, fmtPct, isNum } from './format.js';
import { page } from './state.js';

let modelsLoaded = 0;
export async function loadModels(force = false) {
  if (!force && Date.now() - modelsLoaded < 5000) return page.models;
  try { page.models = (await api('GET', '/v1/models?limit=200')).models || []; modelsLoaded = Date.now(); } catch { /* keep */ }
  fillModelSelects();
  return page.models;
}
const isConv = (m) => (m.summary || []).some((r) => r.type === 'Conv2D');
function modelLabel(m) {
  const acc = m.test_metrics && isNum(m.test_metrics.accuracy) ? ` · test acc ${fmtNum(m.test_metrics.accuracy, 3)}` : '';
  return `${m.name} · ${m.id}${acc}`;
}
function fillModelSelects(preferred) {
  const models = page.models;
  const p = $('#predict-model'), f = $('#fm-model');
  const keepP = preferred || p.value, keepF = f.value;
  p.replaceChildren(...models.map((m) => h('option', { value: m.id, text: modelLabel(m) })));
  const convs = models.filter(isConv), others = models.filter((m) => !isConv(m));
  f.replaceChildren(...convs.map((m) => h('option', { value: m.id, text: modelLabel(m) })),
    ...others.map((m) => h('option', { value: m.id, disabled: true, text: `${modelLabel(m)} (no Conv2D layers)` })));
  if (models.some((m) => m.id === keepP)) p.value = keepP;
  if (convs.some((m) => m.id === keepF)) f.value = keepF;
  $('#predict-nomodel').hidden = models.length > 0;
  $('#fm-hint').textContent = convs.length
    ? 'Each Conv2D and MaxPooling2D layer\'s output, one small image per channel the server sends (scroll a layer\'s grid for more), each scaled from its own minimum (black) to maximum (white).'
    : 'No convolutional model yet: train one from the fashion-cnn recipe to see its feature maps.';
}

export async function enterPredict(query) {
  await loadModels();
  const want = query.get('model');
  if (want && page.models.some((m) => m.id === want)) $('#predict-model').value = want;
}

const objectUrls = [];

/** Classifies the files with one upload. The model input shown beside each result comes with the predictions
 *  when the server includes it (`model_input` per prediction, asked for with `include_input=true`); a server
 *  that does not is sent the images a second time, to /preprocess, and only once they were classified. */
export async function predictFiles(files) {
  files = [...files].filter((f) => f && f.size >= 0);
  const errorBox = $('#predict-error');
  errorBox.hidden = true;
  if (!files.length) return;
  const modelId = $('#predict-model').value;
  if (!modelId) { errorBox.textContent = 'Train a model first: there is none to predict with.'; errorBox.hidden = false; return; }
  for (const u of objectUrls.splice(0)) URL.revokeObjectURL(u);
  const list = $('#predict-results');
  const cards = files.map((file) => {
    const url = URL.createObjectURL(file);
    objectUrls.push(url);
    const seen = h('img', { class: 'thumb pixelated', alt: `${file.name} as the model sees it`, hidden: true });
    const body = h('div', { class: 'result-body' }, h('h3', { text: file.name }), h('p', { class: 'status', text: 'Classifying…' }));
    const li = h('li', { class: 'result' },
      h('figure', {}, h('img', { class: 'thumb', src: url, alt: file.name }), h('figcaption', { text: 'uploaded' })),
      h('figure', { class: 'seen' }, seen, h('figcaption', { text: 'model input' })),
      body);
    return { li, seen, body, file };
  });
  list.replaceChildren(...cards.map((c) => c.li));
  const form = () => { const fd = new FormData(); for (const f of files) fd.append('image', f, f.name); return fd; };
  const topK = $('#predict-topk').value, invert = $('#predict-invert').value;
  const id = enc(modelId);
  let pred;
  try {
    pred = await api('POST', `/v1/models/${id}/predict?top_k=${enc(topK)}&invert=${enc(invert)}&include_input=true`, { body: form() });
  } catch (err) {
    showError(errorBox, err);
    for (const c of cards) c.body.querySelector('.status').textContent = 'Not classified.';
    return;
  }
  pred.predictions.forEach((p, i) => {
    const c = cards[i];
    if (!c) return;
    const max = Math.max(...p.top.map((t) => t.probability), 1e-9);
    c.body.replaceChildren(
      h('h3', { text: c.file.name }),
      h('p', { class: 'verdict' }, `${p.label} `, h('span', { class: 'hint', text: fmtPct(p.probability) })),
      h('ol', { class: 'bars', 'aria-label': `Top ${p.top.length} classes for ${c.file.name}` }, p.top.map((t) => h('li', {},
        h('span', { class: 'label', text: t.label }),
        h('span', { class: 'bar-track', 'aria-hidden': 'true' }, h('span', { class: 'bar-fill', style: `width:${Math.max(1, (t.probability / max) * 100).toFixed(1)}%` })),
        h('span', { class: 'pct', text: fmtPct(t.probability) })))));
    c.li.dataset.label = p.label;
  });
  announce(`${pred.predictions.length} image(s) classified: ${pred.predictions.map((p) => p.label).join(', ')}`);
  let inputs = pred.predictions.every((p) => p.model_input) ? pred.predictions.map((p) => p.model_input) : null;
  if (!inputs) {
    try { inputs = (await api('POST', `/v1/models/${id}/preprocess?invert=${enc(invert)}`, { body: form() })).inputs; } catch { return; }
  }
  inputs.forEach((inp, i) => {
    const c = cards[i];
    if (!c) return;
    c.seen.src = b64url(inp.png_base64);
    c.seen.hidden = false;
    c.seen.title = `${inp.width}×${inp.height}×${inp.channels}${inp.inverted ? ', inverted' : ''}`;
    c.li.querySelector('.seen figcaption').textContent = `model input ${inp.width}×${inp.height}${inp.inverted ? ' (inverted)' : ''}`;
  });
}

let csvUrl = null;

/** Classifies every image of a zip, tar or tar.gz with one upload to the batch route and lists the results;
 *  the CSV is fetched only when "Download CSV" is clicked (a second run of the model, which most never ask for). */
export async function predictArchive(file) {
  const errorBox = $('#predict-error'), table = $('#predict-batch'), link = $('#predict-csv');
  const summary = $('#predict-batch-summary');
  errorBox.hidden = true;
  const modelId = $('#predict-model').value;
  if (!file) return;
  if (!modelId) { errorBox.textContent = 'Train a model first: there is none to predict with.'; errorBox.hidden = false; return; }
  if (csvUrl) { URL.revokeObjectURL(csvUrl); csvUrl = null; }
  link.hidden = true;
  table.hidden = true;
  summary.textContent = `Classifying ${file.name}…`;
  const form = () => { const fd = new FormData(); fd.append('file', file, file.name); return fd; };
  const path = (format) => `/v1/models/${enc(modelId)}/predict/batch?format=${format}&top_k=1&invert=${enc($('#predict-invert').value)}`;
  let res;
  try {
    res = await api('POST', path('json'), { body: form() });
  } catch (err) {
    summary.textContent = '';
    showError(errorBox, err);
    return;
  }
  const rows = res.predictions.map((p) => h('tr', { dataset: { file: p.file } },
    h('td', { text: p.file }), h('td', { class: 'text', text: p.label }), h('td', { text: fmtPct(p.probability) }), h('td')));
  const bad = res.errors.map((e) => h('tr', { class: 'error', dataset: { file: e.file } },
    h('td', { text: e.file }), h('td', { class: 'text', text: '—' }), h('td'), h('td', { class: 'text', text: e.reason })));
  table.querySelector('tbody').replaceChildren(...rows, ...bad);
  table.hidden = false;
  summary.textContent = `${file.name}: ${res.count} image(s) classified${res.errors.length ? `, ${res.errors.length} file(s) not` : ''}.`;
  announce(summary.textContent);
  link.download = `${file.name.replace(/\.(zip|tar|tgz|tar\.gz|gz)$/i, '')}-predictions.csv`;
  link.href = '#';
  link.hidden = false;
  link.onclick = async (e) => {
    if (csvUrl) return;   // the blob is there: the browser downloads it
    e.preventDefault();
    try { csvUrl = URL.createObjectURL(await apiBlob('POST', path('csv'), { body: form(), headers: { Accept: 'text/csv' } })); } catch (err) { showError(errorBox, err); return; }
    link.href = csvUrl;
    link.click();
  };
}
