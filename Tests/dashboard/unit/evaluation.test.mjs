// The model page's pure parts: heat-map shades and the samples of a confusion-matrix cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CELL_PAGE, cellQuery, cellShade, exportPath } from '../../../Public/js/evaluation.js';

test('cellShade is the share of the true class row, 0 for an empty row', () => {
  assert.equal(cellShade(5, 10), 0.5);
  assert.equal(cellShade(0, 0), 0);
  assert.equal(cellShade(10, 10), 1);
});

test('cellQuery pages a cell on the evaluation\'s own split', () => {
  assert.equal(cellQuery('test', 0), `?split=test&offset=0&limit=${CELL_PAGE}`);
  assert.equal(cellQuery('validation', 96), `?split=validation&offset=96&limit=${CELL_PAGE}`);
});

test('exportPath names the model and the format', () => {
  assert.equal(exportPath('m_a b', 'keras'), '/v1/models/m_a%20b/export?format=keras');
});
