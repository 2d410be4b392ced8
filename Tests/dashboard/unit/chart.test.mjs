// The chart's pure parts: smoothing, ticks, decimation, zoom ranges. Run with `node --test Tests/dashboard/unit/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decimate, emaDebiased, logTicks, nearest, panRange, smoothSeries, ticks, visibleSlice, zoomRange }
  from '../../../Public/js/chart.js';

const close = (a, b, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

test('emaDebiased: TensorBoard smoothing, debiased so the first value is kept', () => {
  const s = 0.6;
  const out = emaDebiased([1, 2, 3], s);
  // By hand: last = s·last + (1 − s)·v, divided by 1 − sᵗ.
  close(out[0], 1);
  close(out[1], (0.6 * 0.4 * 1 + 0.4 * 2) / (1 - 0.6 ** 2));
  close(out[2], (0.6 * (0.6 * 0.4 * 1 + 0.4 * 2) + 0.4 * 3) / (1 - 0.6 ** 3));
  // A constant stays constant (no pull towards zero), and s = 0 is the identity.
  for (const v of emaDebiased([5, 5, 5, 5], 0.99)) close(v, 5, 1e-9);
  assert.deepEqual(emaDebiased([3, -1, 4], 0), [3, -1, 4]);
});

test('emaDebiased: a non-finite value passes through and does not poison the average', () => {
  const out = emaDebiased([1, NaN, 1], 0.5);
  assert.ok(Number.isNaN(out[1]));
  close(out[2], 1);
});

test('smoothSeries: zero lag where a one-way EMA lags, and each epoch segment on its own', () => {
  // On a ramp, the one-way EMA trails by s / (1 − s) = 1; forwards-then-backwards does not.
  const ramp = [];
  for (let i = 0; i <= 100; i++) ramp.push([i, i]);
  close(emaDebiased(ramp.map((p) => p[1]), 0.5)[50], 49, 1e-9);
  const sm = smoothSeries(ramp, 0.5);
  close(sm[50][1], 50, 1e-9);
  assert.deepEqual(sm.map((p) => p[0]), ramp.map((p) => p[0]));
  // A bump keeps its peak where it was, lowered.
  const bump = smoothSeries([0, 0, 0, 0, 10, 0, 0, 0, 0].map((y, i) => [i, y]), 0.5).map((p) => p[1]);
  assert.equal(bump.indexOf(Math.max(...bump)), 4);
  assert.ok(bump[4] < 10);
  // Two epochs of a running mean: 1s then 9s. Smoothed per segment, nothing of the first leaks into the second.
  const two = [[1, 1, 1], [2, 1, 1], [3, 1, 1], [4, 9, 2], [5, 9, 2], [6, 9, 2]];
  const out = smoothSeries(two, 0.9);
  for (const p of out.slice(0, 3)) close(p[1], 1, 1e-9);
  for (const p of out.slice(3)) close(p[1], 9, 1e-9);
  assert.deepEqual(out.map((p) => p[2]), [1, 1, 1, 2, 2, 2]);
});

test('ticks: nice linear steps covering the range, integers when asked', () => {
  assert.deepEqual(ticks(0, 1, 5, false), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(0.13, 0.91, 4, false), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(ticks(-3, 3, 3, false), [-2, 0, 2]);
  const steps = ticks(1, 4, 10, true);
  assert.deepEqual(steps, [1, 2, 3, 4]);
  assert.ok(ticks(0, 1e9, 5, true).every(Number.isInteger));
  assert.ok(ticks(0, 1, 1000, false).length <= 50);
});

test('logTicks: powers of ten, 1-2-5 over a few decades, every digit within one, linear when too narrow', () => {
  assert.deepEqual(logTicks(0.001, 1000, 5), [0.001, 0.01, 0.1, 1, 10, 100, 1000]);
  assert.deepEqual(logTicks(1e-6, 1e6, 5), [1e-6, 1e-4, 0.01, 1, 100, 1e4, 1e6]);
  assert.deepEqual(logTicks(0.01, 10, 5), [0.01, 0.1, 1, 10]);
  assert.deepEqual(logTicks(0.05, 2, 5), [0.05, 0.1, 0.2, 0.5, 1, 2]);
  assert.deepEqual(logTicks(0.2, 0.5, 4), [0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(logTicks(0.251, 0.259, 4), ticks(0.251, 0.259, 4, false));
  assert.deepEqual(logTicks(0, 1, 5), []);
  assert.deepEqual(logTicks(-1, 1, 5), []);
  for (const v of logTicks(3e-5, 7e2, 6)) assert.ok(v >= 3e-5 && v <= 7e2);
});

test('decimate: few points pass through; many keep the ends and every column\'s extremes', () => {
  const id = (v) => v;
  const few = [[0, 1], [1, 3], [2, 2]];
  assert.deepEqual(decimate(few, id, id, 10), [[0, 1, true], [1, 3, false], [2, 2, false]]);

  const n = 10000;
  const pts = [];
  for (let i = 0; i < n; i++) pts.push([i, Math.sin(i / 50) + (i === 4321 ? 50 : 0) - (i === 777 ? 40 : 0)]);
  const X = (x) => (x / n) * 100, Y = id;
  const v = decimate(pts, X, Y, 100);
  assert.ok(v.length <= 4 * 101, `${v.length} vertices`);
  assert.equal(v[0][1], pts[0][1]);
  assert.equal(v[v.length - 1][1], pts[n - 1][1]);
  const ys = v.map((p) => p[1]);
  assert.equal(Math.max(...ys), Math.max(...pts.map((p) => p[1])));
  assert.equal(Math.min(...ys), Math.min(...pts.map((p) => p[1])));
  assert.equal(v.filter((p) => p[2]).length, 1);
});

test('decimate: a new segment starts a new line, dense or sparse', () => {
  const id = (v) => v;
  const sparse = decimate([[0, 1, 1], [1, 1, 1], [2, 5, 2], [3, 5, 2]], id, id, 10);
  assert.deepEqual(sparse.map((p) => p[2]), [true, false, true, false]);
  const dense = [];
  for (let i = 0; i < 1000; i++) dense.push([i, i % 7, i < 500 ? 1 : 2]);
  const v = decimate(dense, (x) => x / 10, id, 100);
  assert.equal(v.filter((p) => p[2]).length, 2);
  const second = v.findIndex((p, i) => i > 0 && p[2]);
  assert.equal(second > 0 && v[second][0], 50.5);
});

test('visibleSlice and nearest: binary searches over sorted x', () => {
  const pts = [0, 1, 2, 3, 4, 5, 6].map((x) => [x, x * x]);
  assert.deepEqual(visibleSlice(pts, 2.5, 4.2).map((p) => p[0]), [2, 3, 4, 5]);
  assert.equal(visibleSlice(pts, -10, 10), pts);
  assert.equal(nearest(pts, 2.4), 2);
  assert.equal(nearest(pts, 2.6), 3);
  assert.equal(nearest(pts, 99), 6);
  assert.equal(nearest([], 1), -1);
});

test('zoomRange and panRange stay within the data', () => {
  assert.deepEqual(zoomRange([0, 100], 50, 0.5, [0, 100]), [25, 75]);
  assert.deepEqual(zoomRange([0, 100], 0, 0.5, [0, 100]), [0, 50]);
  assert.deepEqual(zoomRange([25, 75], 50, 4, [0, 100]), [0, 100]);
  assert.deepEqual(panRange([20, 40], 10, [0, 100]), [30, 50]);
  assert.deepEqual(panRange([20, 40], -50, [0, 100]), [0, 20]);
  assert.deepEqual(panRange([20, 40], 500, [0, 100]), [80, 100]);
});
