// The spec helpers: the field locator behind "errors name the field", and what the quick fields may write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { datasetAccepts, estimateParams, locateJsonPath, specText, withQuickEdit } from '../../../Public/js/spec.js';

const at = (text, path) => {
  const r = locateJsonPath(text, path);
  return r && text.slice(r[0], r[1]);
};

test('locateJsonPath finds values by dotted path and index', () => {
  const text = '{\n  "name": "x",\n  "model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": -3}]},\n  "fit": {"epochs": 2}\n}';
  assert.equal(at(text, 'model.layers[1].units'), '-3');
  assert.equal(at(text, 'model.layers[0]'), '{"type": "Flatten"}');
  assert.equal(at(text, 'name'), '"x"');
  assert.equal(at(text, 'fit.epochs'), '2');
});

test('locateJsonPath falls back to the deepest existing parent', () => {
  const text = '{"fit": {"epochs": 2}, "model": {"layers": []}}';
  assert.equal(at(text, 'fit.batch_size'), '{"epochs": 2}');
  assert.equal(at(text, 'model.layers[4].units'), '[]');
  assert.equal(locateJsonPath(text, 'compile.optimizer'), null);
});

test('locateJsonPath copes with escapes and keys holding dots or brackets, and refuses broken JSON', () => {
  const text = '{"a\\"b": {"c": "x\\"y"}, "d": [1, [2, 3]]}';
  assert.equal(at(text, 'd[1][0]'), '2');
  assert.equal(at(text, 'd[1]'), '[2, 3]');
  assert.equal(locateJsonPath('{"fit": {"epochs": ', 'fit.epochs'), null);
  assert.equal(locateJsonPath('not json', 'fit'), null);
});

test('datasetAccepts: Fashion-MNIST takes limits, a folder dataset does not', () => {
  assert.equal(datasetAccepts({ name: 'fashion_mnist' }, 'train_limit'), true);
  assert.equal(datasetAccepts(undefined, 'test_limit'), true);
  assert.equal(datasetAccepts({ directory: 'horses-or-humans', target_size: [150, 150] }, 'train_limit'), false);
  assert.equal(datasetAccepts({ directory: 'horses-or-humans' }, 'test_limit'), false);
});

test('withQuickEdit writes, removes, and never writes a limit into a folder dataset', () => {
  const fashion = { dataset: { name: 'fashion_mnist' }, fit: { epochs: 5 } };
  assert.deepEqual(withQuickEdit(fashion, ['dataset', 'train_limit'], 1500).dataset, { name: 'fashion_mnist', train_limit: 1500 });
  assert.deepEqual(withQuickEdit(fashion, ['fit', 'epochs'], null).fit, {});
  assert.deepEqual(fashion.fit, { epochs: 5 }, 'the input is not changed');
  const folder = { dataset: { directory: 'horses-or-humans', target_size: [150, 150] } };
  assert.deepEqual(withQuickEdit(folder, ['dataset', 'train_limit'], 100).dataset, folder.dataset);
  const stale = { dataset: { directory: 'h', train_limit: 3 } };
  assert.equal('train_limit' in withQuickEdit(stale, ['dataset', 'train_limit'], 100).dataset, false);
  assert.deepEqual(withQuickEdit({}, ['fit', 'epochs'], 3), { fit: { epochs: 3 } });
});

test('specText keeps the reading order and short arrays on one line', () => {
  const text = specText({ fit: { epochs: 1 }, name: 'n', model: { layers: [], input_shape: [28, 28, 1] } });
  assert.ok(text.indexOf('"name"') < text.indexOf('"model"') && text.indexOf('"model"') < text.indexOf('"fit"'));
  assert.match(text, /"input_shape": \[28, 28, 1\]/);
  assert.deepEqual(JSON.parse(text), { fit: { epochs: 1 }, name: 'n', model: { layers: [], input_shape: [28, 28, 1] } });
});

test('estimateParams matches the recipes\' parameter counts', () => {
  const dense = { input_shape: [28, 28, 1], layers: [{ type: 'Flatten' }, { type: 'Dense', units: 128 }, { type: 'Dense', units: 10 }] };
  assert.equal(estimateParams(dense), 101770);
  const cnn = { input_shape: [28, 28, 1], layers: [
    { type: 'Conv2D', filters: 64, kernel_size: [3, 3] }, { type: 'MaxPooling2D', pool_size: [2, 2] },
    { type: 'Conv2D', filters: 64, kernel_size: [3, 3] }, { type: 'MaxPooling2D', pool_size: [2, 2] },
    { type: 'Flatten' }, { type: 'Dense', units: 128 }, { type: 'Dense', units: 10 }] };
  assert.equal(estimateParams(cnn), 243786);
  assert.equal(estimateParams({ input_shape: [2], layers: [{ type: 'Mystery' }] }), null);
});
