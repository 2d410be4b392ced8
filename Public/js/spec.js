// Pure helpers for job specs: the editor's JSON layout, the field locator for server errors, what the quick
// fields may write, optimizer and parameter estimates. No DOM access.
import { isNum } from './format.js';

/** Spec keys in reading order (the server returns them sorted): name, dataset, model, compile, fit, … */
const KEY_ORDER = ['name', 'type', 'class_name', 'dataset', 'model', 'input_shape', 'layers', 'units', 'filters', 'kernel_size',
  'pool_size', 'activation', 'compile', 'optimizer', 'loss', 'metrics', 'fit', 'epochs', 'batch_size', 'callbacks'];
export function ordered(value) {
  if (Array.isArray(value)) return value.map(ordered);
  if (!value || typeof value !== 'object') return value;
  const rank = (k) => { const i = KEY_ORDER.indexOf(k); return i < 0 ? KEY_ORDER.length : i; };
  const out = {};
  for (const k of Object.keys(value).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) out[k] = ordered(value[k]);
  return out;
}
/** JSON as the recipes in config/jobs are written: small objects and arrays of numbers on one line. */
function oneLine(v) {
  if (Array.isArray(v)) return `[${v.map(oneLine).join(', ')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}: ${oneLine(v[k])}`).join(', ')}}`;
  return JSON.stringify(v);
}
export function pretty(v, indent = '') {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const flat = oneLine(v);
  const simple = Array.isArray(v) ? v.every((x) => x === null || typeof x !== 'object')
    : Object.values(v).every((x) => x === null || typeof x !== 'object' || (Array.isArray(x) && x.every((y) => typeof y !== 'object')));
  if (simple && indent.length + flat.length <= 100) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + pretty(x, inner)).join(',\n')}\n${indent}]` : '[]';
  const keys = Object.keys(v);
  return keys.length ? `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${pretty(v[k], inner)}`).join(',\n')}\n${indent}}` : '{}';
}
export const specText = (spec) => pretty(ordered(spec));

/** [start, end] of the value at a path like `model.layers[2].units` in JSON text, or of its deepest
 *  existing parent when the field itself is missing; null when nothing on the path exists or the text is not
 *  JSON. */
export function locateJsonPath(text, path) {
  const want = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) want.push(m[2] != null ? Number(m[2]) : m[1]);
  let i = 0, best = null, bestDepth = -1;
  const ws = () => { while (i < text.length && /\s/.test(text[i])) i++; };
  const matches = (p) => p.length <= want.length && p.every((k, j) => k === want[j]);
  function value(p) {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') { i++; }
      else {
        for (;;) {
          ws();
          const key = str();
          ws(); if (text[i] !== ':') throw new Error('bad'); i++;
          value(p.concat([key]));
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === '}') { i++; break; }
          throw new Error('bad');
        }
      }
    } else if (c === '[') {
      i++; ws();
      if (text[i] === ']') { i++; }
      else {
        for (let k = 0; ; k++) {
          value(p.concat([k]));
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; break; }
          throw new Error('bad');
        }
      }
    } else if (c === '"') { str(); }
    else { while (i < text.length && /[^\s,\]}]/.test(text[i])) i++; }
    if (matches(p) && p.length > bestDepth) { best = [start, i]; bestDepth = p.length; }
  }
  function str() {
    if (text[i] !== '"') throw new Error('bad');
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  }
  try { value([]); } catch { return null; }
  return bestDepth > 0 ? best : null;
}

/** Whether the spec's dataset takes `key` (JobSpec.swift): Fashion-MNIST takes train_limit and test_limit, a
 *  class-folder dataset (`directory`) takes neither, and the parser refuses keys a dataset does not take. */
export function datasetAccepts(dataset, key) {
  const folder = dataset && typeof dataset === 'object' && dataset.directory != null;
  if (key === 'train_limit' || key === 'test_limit') return !folder;
  return true;
}

/** The spec with a quick field written into it: `value` null (or not finite) removes the key, and a key the
 *  dataset does not take is removed rather than written. Returns a new object. */
export function withQuickEdit(spec, [section, key], value) {
  const out = { ...spec };
  out[section] = spec[section] && typeof spec[section] === 'object' ? { ...spec[section] } : {};
  const allowed = section !== 'dataset' || datasetAccepts(out.dataset, key);
  if (value == null || !Number.isFinite(value) || !allowed) delete out[section][key]; else out[section][key] = value;
  return out;
}

export function optimizerOf(spec) {
  const o = (spec.compile || {}).optimizer;
  const name = (typeof o === 'string' ? o : (o && (o.type || o.class_name)) || 'rmsprop').toLowerCase();
  const lr = o && typeof o === 'object' ? (o.learning_rate ?? (o.config && o.config.learning_rate)) : undefined;
  const defaults = { adam: 0.001, rmsprop: 0.001, sgd: 0.01 };
  return { name, lr: isNum(lr) ? lr : defaults[name] };
}

function kerasLayers(model) {
  return model && model.class_name === 'Sequential' && model.config ? (model.config.layers || []).filter((l) => l.class_name !== 'InputLayer') : null;
}
export function layerCount(model) {
  if (!model) return null;
  const k = kerasLayers(model);
  return k ? k.length : Array.isArray(model.layers) ? model.layers.length : null;
}
/** Parameters of a Sequent-format model, by shape inference (used before the model exists). */
export function estimateParams(model) {
  if (!model || !Array.isArray(model.input_shape) || !Array.isArray(model.layers)) return null;
  const pair = (v, d) => (Array.isArray(v) ? v : [v ?? d, v ?? d]);
  let shape = model.input_shape.slice(), total = 0;
  for (const l of model.layers) {
    const bias = l.use_bias === false ? 0 : 1;
    if (l.type === 'Dense') {
      total += shape[shape.length - 1] * l.units + bias * l.units;
      shape = [...shape.slice(0, -1), l.units];
    } else if (l.type === 'Conv2D' || l.type === 'MaxPooling2D' || l.type === 'AveragePooling2D') {
      const conv = l.type === 'Conv2D';
      const [kh, kw] = pair(conv ? l.kernel_size : l.pool_size, conv ? 3 : 2);
      const [sh, sw] = pair(l.strides ?? (conv ? 1 : [kh, kw]), 1);
      const same = l.padding === 'same';
      const oh = same ? Math.ceil(shape[0] / sh) : Math.floor((shape[0] - kh) / sh) + 1;
      const ow = same ? Math.ceil(shape[1] / sw) : Math.floor((shape[1] - kw) / sw) + 1;
      if (conv) total += kh * kw * shape[2] * l.filters + bias * l.filters;
      shape = [oh, ow, conv ? l.filters : shape[2]];
    } else if (l.type === 'Flatten') {
      shape = [shape.reduce((a, b) => a * b, 1)];
    } else if (l.type === 'GlobalAveragePooling2D' || l.type === 'GlobalMaxPooling2D') {
      shape = l.keepdims ? [1, 1, shape[shape.length - 1]] : [shape[shape.length - 1]];
    } else if (l.type === 'BatchNormalization') {
      total += shape[shape.length - 1] * (2 + (l.center === false ? 0 : 1) + (l.scale === false ? 0 : 1));
    } else if (!['Dropout', 'Rescaling', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'RandomFlip',
                 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast'].includes(l.type)) {
      return null;
    }
  }
  return total;
}
