// The model page's threshold read-out: the operating point taken from the stored ROC points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classTotals, operatingPoint, pointAt } from '../../../Public/js/roc.js';

// Scores 0.9 (pos), 0.7 (neg), 0.5 (pos and neg), 0.1 (neg): 2 positives, 3 negatives, as ClassificationReport stores them.
const points = [{ fpr: 0, tpr: 0, threshold: null }, { fpr: 0, tpr: 0.5, threshold: 0.9 },
  { fpr: 1 / 3, tpr: 0.5, threshold: 0.7 }, { fpr: 2 / 3, tpr: 1, threshold: 0.5 }, { fpr: 1, tpr: 1, threshold: 0.1 }];
const totals = { positives: 2, negatives: 3 };

test('pointAt takes the lowest threshold still at or above the slider', () => {
  assert.equal(pointAt(points, 0.95).threshold, null);
  assert.equal(pointAt(points, 0.9).threshold, 0.9);
  assert.equal(pointAt(points, 0.6).threshold, 0.7);
  assert.equal(pointAt(points, 0).threshold, 0.1);
  assert.equal(pointAt([], 0.5), null);
});

test('operatingPoint counts and rates at a threshold', () => {
  assert.deepEqual(operatingPoint(points, 0.6, totals),
    { threshold: 0.7, fpr: 1 / 3, tpr: 0.5, tp: 1, fp: 1, fn: 1, tn: 2, precision: 0.5, recall: 0.5 });
  const all = operatingPoint(points, 0, totals);
  assert.deepEqual([all.tp, all.fp, all.fn, all.tn, all.precision, all.recall], [2, 3, 0, 0, 0.4, 1]);
  // Nothing predicted positive: precision has nothing to divide by, 0.
  const none = operatingPoint(points, 1, totals);
  assert.deepEqual([none.tp, none.fp, none.fn, none.tn, none.precision, none.recall], [0, 0, 2, 3, 0, 0]);
});

test('classTotals reads the supports of class 1 and class 0', () => {
  assert.deepEqual(classTotals({ per_class: [{ support: 7 }, { support: 4 }] }), { positives: 4, negatives: 7 });
  assert.deepEqual(classTotals({}), { positives: 0, negatives: 0 });
});
