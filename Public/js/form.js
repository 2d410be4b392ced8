// The new-job form: recipes, the JSON editor, the quick fields written into it, and errors shown at the field
// they name.
import { api } from './api.js';
import { $, announce, h } from './dom.js';
import { isNum } from './format.js';
import { datasetAccepts, locateJsonPath, specText, withQuickEdit } from './spec.js';
import { detail, page } from './state.js';
import { onJobUpdate } from './jobs.js';

export const editor = () => $('#spec-editor');

/** The quick fields and where each writes in the spec. */
export const QUICK_FIELDS = [
  ['#quick-epochs', ['fit', 'epochs']],
  ['#quick-train-limit', ['dataset', 'train_limit']],
  ['#quick-test-limit', ['dataset', 'test_limit']],
];

export function openForm(text, label) {
  const form = $('#new-job');
  form.hidden = false;
  $('#new-job-toggle').setAttribute('aria-expanded', 'true');
  if (text != null) {
    editor().value = text;
    if (label) {
      const sel = $('#recipe-select');
      let opt = sel.querySelector('option[value="__job"]');
      if (!opt) { opt = h('option', { value: '__job' }); sel.prepend(opt); }
      opt.textContent = label;
      sel.value = '__job';
    }
    syncQuick();
  }
  clearSpecError();
  if (!editor().value && page.recipes.length) applyRecipe(page.recipes[0].name);
  // On a narrow screen the form is hidden while a job is shown: go back to the list.
  if (page.view !== 'jobs' || (detail.id && window.matchMedia('(max-width: 900px)').matches)) {
    page.focusAfterRoute = $('#recipe-select');
    location.hash = '#/jobs';
  } else {
    $('#recipe-select').focus();
  }
}

export function closeForm() {
  $('#new-job').hidden = true;
  $('#new-job-toggle').setAttribute('aria-expanded', 'false');
  $('#new-job-toggle').focus();
}

export async function loadRecipes() {
  try { page.recipes = (await api('GET', '/v1/recipes')).recipes || []; } catch { page.recipes = []; }
  const sel = $('#recipe-select');
  sel.replaceChildren(...page.recipes.map((r) => h('option', { value: r.name, text: r.name })),
    h('option', { value: '__blank', text: 'empty spec' }));
  if (!editor().value) applyRecipe(page.recipes.length ? page.recipes[0].name : '__blank');
}

export function applyRecipe(name) {
  const recipe = page.recipes.find((r) => r.name === name);
  const spec = recipe ? recipe.spec : {
    name: 'my-model', dataset: { name: 'fashion_mnist', validation: 'test' },
    model: { input_shape: [28, 28, 1], layers: [{ type: 'Flatten' }, { type: 'Dense', units: 128, activation: 'relu' }, { type: 'Dense', units: 10, activation: 'softmax' }] },
    compile: { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
    fit: { epochs: 5, batch_size: 32 },
  };
  $('#recipe-select').value = recipe ? name : '__blank';
  editor().value = specText(spec);
  clearSpecError();
  syncQuick();
}

function parseEditor() {
  try { return JSON.parse(editor().value); } catch { return null; }
}

/** The quick fields show what the JSON says; a field the dataset does not take (a folder dataset has no
 *  train or test limit) is disabled, so it cannot write a key the server would refuse. */
export function syncQuick() {
  const spec = parseEditor();
  if (!spec || typeof spec !== 'object') return;
  for (const [sel, [section, key]] of QUICK_FIELDS) {
    const input = $(sel);
    const part = spec[section] || {};
    input.value = isNum(part[key]) ? part[key] : '';
    const allowed = section !== 'dataset' || datasetAccepts(spec.dataset, key);
    input.disabled = !allowed;
    input.title = allowed ? '' : 'Folder datasets take no limit: they train on every image in the folder';
  }
}

export function quickEdit(path, input) {
  const spec = parseEditor();
  if (!spec || typeof spec !== 'object') {
    showSpecError({ message: 'Fix the JSON first: it does not parse, so the quick edit cannot be written into it.' });
    return;
  }
  const value = input.value.trim() === '' ? null : Number(input.value);
  editor().value = specText(withQuickEdit(spec, path, value));
  clearSpecError();
}

export function clearSpecError() {
  $('#spec-error').hidden = true;
  $('#spec-error').replaceChildren();
  editor().removeAttribute('aria-invalid');
}

/** Shows an error under the editor; with a field path (or a parse position) it selects that spot in the JSON. */
export function showSpecError({ message, field, position, status }) {
  const box = $('#spec-error');
  const text = editor().value;
  let range = null;
  if (field) range = locateJsonPath(text, field);
  if (!range && isNum(position)) range = [position, Math.min(text.length, position + 1)];
  const parts = [];
  if (status) parts.push(h('span', { text: `${status} · ` }));
  if (field && message.startsWith(field)) parts.push(h('code', { text: field }), message.slice(field.length));
  else if (field) parts.push('Field ', h('code', { text: field }), ': ', message);
  else parts.push(message);
  if (range) {
    const line = text.slice(0, range[0]).split('\n').length;
    parts.push(h('span', { class: 'hint', text: ` (line ${line})` }));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
  editor().setAttribute('aria-invalid', 'true');
  if (range) {
    const ta = editor();
    ta.focus({ preventScroll: true });
    ta.setSelectionRange(range[0], range[1]);
    const line = text.slice(0, range[0]).split('\n').length;
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
    ta.scrollTop = Math.max(0, (line - 3) * lh);
    box.scrollIntoView({ block: 'nearest' });
  }
}

export function showParseError(err) {
  const m = /position (\d+)/.exec(err.message);
  showSpecError({ message: `The JSON does not parse: ${err.message}`, position: m ? Number(m[1]) : undefined });
}

export async function submitJob(e) {
  e.preventDefault();
  clearSpecError();
  const text = editor().value;
  try {
    JSON.parse(text);
  } catch (err) {
    showParseError(err);
    return;
  }
  const button = $('#submit-job');
  button.disabled = true;
  button.textContent = 'Submitting…';
  try {
    const job = await api('POST', '/v1/jobs', { body: text, headers: { 'Content-Type': 'application/json' } });
    onJobUpdate(job);
    announce(`Job ${job.name} queued`);
    $('#new-job').hidden = true;
    $('#new-job-toggle').setAttribute('aria-expanded', 'false');
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  } catch (err) {
    const hint = { 401: 'a token is needed (see the bar at the top)', 422: 'the model is too large for this server', 429: 'the queue is full; try again later' }[err.status];
    showSpecError({ message: hint ? `${err.message} — ${hint}` : err.message, field: err.field, status: err.status || undefined });
  } finally {
    button.disabled = false;
    button.textContent = 'Start training';
  }
}
