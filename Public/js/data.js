// Data: the Fashion-MNIST sample grid, and the feature maps a convolutional model computes for a sample or an
// uploaded image.
import { api, enc } from './api.js';
import { $, announce, b64url, h, showError } from './dom.js';
import { fmtPct } from './format.js';
import { loadModels } from './models.js';

let samplesLoadedKey = null;
let selectedSample = null;

export function enterData() {
  loadModels();
  const key = `${$('#samples-split').value}:${$('#samples-offset').value}`;
  if (samplesLoadedKey !== key) loadSamples();
}

export async function loadSamples() {
  const split = $('#samples-split').value;
  const offset = Math.max(0, Math.floor(Number($('#samples-offset').value) || 0));
  $('#samples-offset').value = offset;
  const errorBox = $('#samples-error');
  errorBox.hidden = true;
  $('#samples-offset').removeAttribute('aria-invalid');
  try {
    const d = await api('GET', `/v1/datasets/fashion_mnist/samples?split=${split}&offset=${offset}&count=24`);
    samplesLoadedKey = `${split}:${offset}`;
    $('#samples-offset').max = d.total - 1;
    $('#samples-prev').disabled = offset === 0;
    $('#samples-next').disabled = offset + d.samples.length >= d.total;
    $('#sample-grid').replaceChildren(...d.samples.map((s) => {
      const button = h('button', {
        type: 'button', class: 'sample', 'aria-pressed': String(selectedSample === `${split}:${s.index}`),
        'aria-label': `Sample ${s.index}: ${s.label}. Show feature maps.`, dataset: { index: s.index, label: s.label },
        onclick: () => sampleFeatureMaps(button, s, split),
      }, h('img', { src: b64url(s.png_base64), alt: '', width: '28', height: '28' }),
      h('span', { class: 'label', text: s.label }), h('span', { class: 'idx', text: `#${s.index}` }));
      return h('li', {}, button);
    }));
  } catch (err) {
    showError(errorBox, err);
    if (err.field === 'offset') $('#samples-offset').setAttribute('aria-invalid', 'true');
  }
}

function unpressSamples() {
  for (const b of document.querySelectorAll('.sample[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
}

function sampleFeatureMaps(button, sample, split) {
  unpressSamples();
  button.setAttribute('aria-pressed', 'true');
  selectedSample = `${split}:${sample.index}`;
  const bytes = Uint8Array.from(atob(sample.png_base64), (c) => c.charCodeAt(0));
  featureMaps(new Blob([bytes], { type: 'image/png' }), `${split} sample ${sample.index} (${sample.label})`);
}

/** An uploaded image instead of a sample. */
export function uploadedFeatureMaps(file) {
  unpressSamples();
  selectedSample = null;
  featureMaps(file, file.name);
}

/** Feature maps of the Data view's chosen model. */
function featureMaps(blob, name) {
  const modelId = $('#fm-model').value;
  if (!modelId) {
    const errorBox = $('#fm-error');
    errorBox.textContent = 'Train a model with Conv2D layers (for example the fashion-cnn recipe) to see feature maps.';
    errorBox.hidden = false;
    return;
  }
  showFeatureMaps({ modelId, blob, name, out: $('#fm-output'), errorBox: $('#fm-error') });
}

const fmRuns = new WeakMap();   // out element → the number of its latest request, so a slow answer never replaces a newer one
/** Renders into `out` the feature maps `modelId` computes for an image (`blob`, called `name`): the input as the
 *  model sees it, its prediction, and every channel of each Conv2D and MaxPooling2D layer. Shared by the Data view
 *  and the model page's confusion-matrix cells. */
export async function showFeatureMaps({ modelId, blob, name, out, errorBox }) {
  errorBox.hidden = true;
  const run = (fmRuns.get(out) || 0) + 1;
  fmRuns.set(out, run);
  out.replaceChildren(h('p', { class: 'hint', text: `Computing feature maps of ${name}…` }));
  const fd = new FormData();
  fd.append('image', blob, name.replace(/[^\w.-]+/g, '_') + (blob.type === 'image/jpeg' ? '.jpg' : '.png'));
  try {
    const d = await api('POST', `/v1/models/${enc(modelId)}/feature-maps`, { body: fd });
    if (fmRuns.get(out) !== run) return;
    const p = d.prediction;
    const head = h('div', { class: 'fm-input' },
      h('img', { src: b64url(d.input.png_base64), alt: `${name} as the model sees it (${d.input.width}×${d.input.height})` }),
      h('div', {}, h('p', {}, h('strong', { text: name })),
        h('p', { class: 'hint', text: `model input ${d.input.width}×${d.input.height}×${d.input.channels}` }),
        p ? h('p', {}, 'Prediction: ', h('strong', { text: p.label }), ` (${fmtPct(p.probability)})`) : null));
    // Every channel the server sends, in a grid that scrolls within the layer when it is long.
    const layers = d.layers.map((l) => h('section', { class: 'fm-layer', dataset: { layer: l.name } },
      h('h3', {}, `${l.name} `, h('span', { class: 'hint', text: `${l.type} · ${l.shape.join('×')} · showing ${l.maps.length} of ${l.shape[2]} channels` })),
      h('ul', { class: 'fm-maps', tabindex: '0', 'aria-label': `${l.name}: ${l.maps.length} channel images` },
        l.maps.map((m, i) => h('li', {}, h('figure', {},
          h('img', { src: b64url(m), alt: `${l.name} channel ${i}` }), h('figcaption', { text: String(i) })))))));
    out.replaceChildren(head, ...(layers.length ? layers : [h('p', { class: 'empty', text: 'This model has no Conv2D or MaxPooling2D layers.' })]));
    out.dataset.layers = String(d.layers.length);
    announce(`Feature maps of ${d.layers.length} layers for ${name}`);
  } catch (err) {
    if (fmRuns.get(out) !== run) return;
    out.replaceChildren();
    showError(errorBox, err);
  }
}
