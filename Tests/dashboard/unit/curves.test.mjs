// The job page's curve marks: the best epoch and the overfitting stretches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestEpoch, bestHeadline, monitorOf, overfittingRegions } from '../../../Public/js/curves.js';

const rows = [
  { epoch: 1, loss: 1.0, val_loss: 0.9, val_accuracy: 0.6 },
  { epoch: 2, loss: 0.8, val_loss: 0.7, val_accuracy: 0.7 },
  { epoch: 3, loss: 0.6, val_loss: 0.75, val_accuracy: 0.72 },
  { epoch: 4, loss: 0.5, val_loss: 0.8, val_accuracy: 0.71 },
  { epoch: 5, loss: 0.4, val_loss: 0.85, val_accuracy: 0.7 },
];

test('bestEpoch is the lowest val_loss without an early_stopping callback', () => {
  assert.deepEqual(bestEpoch(rows, {}), { epoch: 2, key: 'val_loss', value: 0.7 });
  assert.equal(bestEpoch([{ epoch: 1, val_accuracy: 0.5 }], {}), null);
});

test('bestEpoch follows an early_stopping monitor and its mode', () => {
  const spec = (cb) => ({ callbacks: [{ type: 'threshold_stop', monitor: 'accuracy' }, { type: 'early_stopping', ...cb }] });
  assert.deepEqual(monitorOf(spec({ monitor: 'val_accuracy' })), { key: 'val_accuracy', mode: 'max' });
  assert.equal(bestEpoch(rows, spec({ monitor: 'val_accuracy' })).epoch, 3);
  assert.equal(bestEpoch(rows, spec({ monitor: 'val_accuracy', mode: 'min' })).epoch, 1);
  assert.deepEqual(monitorOf(spec({})), { key: 'val_loss', mode: 'min' });
});

test('overfittingRegions needs val_loss rising while loss falls for two epochs in a row', () => {
  assert.deepEqual(overfittingRegions(rows), [{ from: 2, to: 5 }]);
  // One epoch of divergence is noise, not a region.
  assert.deepEqual(overfittingRegions(rows.slice(0, 3)), []);
  // Loss rising too breaks the run.
  const broken = rows.map((r) => (r.epoch === 4 ? { ...r, loss: 0.7 } : r));
  assert.deepEqual(overfittingRegions(broken), []);
  assert.deepEqual(overfittingRegions([{ epoch: 1, loss: 1 }]), []);
});

test('bestEpoch falls back to the lowest loss without validation metrics', () => {
  const noVal = [{ epoch: 1, loss: 0.9, accuracy: 0.6 }, { epoch: 2, loss: 0.5, accuracy: 0.8 }, { epoch: 3, loss: 0.6, accuracy: 0.85 }];
  assert.deepEqual(bestEpoch(noVal, {}), { epoch: 2, key: 'loss', value: 0.5 });
  assert.equal(bestEpoch([], {}), null);
});

test('bestHeadline shows the accuracy of the epoch bestEpoch picks', () => {
  const rows = [{ epoch: 1, loss: 1, val_loss: 0.8, val_accuracy: 0.7 }, { epoch: 2, loss: 0.8, val_loss: 0.6, val_accuracy: 0.75 },
    { epoch: 3, loss: 0.6, val_loss: 0.65, val_accuracy: 0.78 }];
  assert.deepEqual(bestHeadline(rows, {}), { epoch: 2, key: 'val_accuracy', value: 0.75 });
  assert.deepEqual(bestHeadline([{ epoch: 1, loss: 0.4 }], {}), { epoch: 1, key: 'loss', value: 0.4 });
  assert.equal(bestHeadline([], {}), null);
});
