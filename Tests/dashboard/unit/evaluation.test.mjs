// The model page's pure parts: heat-map shades and the samples of a confusion-matrix cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellSamples, cellShade } from '../../../Public/js/evaluation.js';

test('cellShade is the share of the true class row, 0 for an empty row', () => {
  assert.equal(cellShade(5, 10), 0.5);
  assert.equal(cellShade(0, 0), 0);
  assert.equal(cellShade(10, 10), 1);
});

test('cellSamples picks the misclassified samples of one cell by class name', () => {
  const e = { classes: ['a', 'b', 'c'], misclassified: [
    { index: 3, true_label: 'a', predicted_label: 'b' }, { index: 7, true_label: 'b', predicted_label: 'a' },
    { index: 9, true_label: 'a', predicted_label: 'b' }] };
  assert.deepEqual(cellSamples(e, 0, 1).map((m) => m.index), [3, 9]);
  assert.deepEqual(cellSamples(e, 1, 0).map((m) => m.index), [7]);
  assert.deepEqual(cellSamples(e, 2, 2), []);
});
