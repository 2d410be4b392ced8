// Formatting, CSV (RFC 4180) and the step-series points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, fmtDuration, fmtNum, progressOf, toCSV } from '../../../Public/js/format.js';
import { pointsFor } from '../../../Public/js/series.js';

test('csvField quotes only what needs it, doubling inner quotes', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField('cr\r'), '"cr\r"');
  assert.equal(csvField(' padded'), '" padded"');
  assert.equal(csvField(null), '');
  assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvField('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(csvField('-2+3'), "'-2+3");
  assert.equal(csvField(-0.5), '-0.5');
  assert.equal(csvField(undefined), '');
  assert.equal(csvField(0.1 + 0.2), '0.30000000000000004');
  assert.equal(csvField(NaN), '');
});

test('toCSV: header, one CRLF-terminated line per row, missing cells empty', () => {
  const csv = toCSV(['epoch', 'loss', 'note'], [{ epoch: 1, loss: 0.5, note: 'ok, fine' }, { epoch: 2 }]);
  assert.equal(csv, 'epoch,loss,note\r\n1,0.5,"ok, fine"\r\n2,,\r\n');
  assert.equal(toCSV(['a'], []), 'a\r\n');
});

test('number and duration formats', () => {
  assert.equal(fmtNum(0.123456), '0.1235');
  assert.equal(fmtNum(1e-5), '1.00e-5');
  assert.equal(fmtNum(undefined), '—');
  assert.equal(fmtDuration(3725), '1:02:05');
  assert.equal(fmtDuration(65), '1:05');
});

test('progressOf', () => {
  assert.equal(progressOf({ state: 'running', progress: { epoch: 2, epochs: 4, step: 50, steps: 100 } }), 0.375);
  assert.equal(progressOf({ state: 'succeeded' }), 1);
  assert.equal(progressOf({ state: 'queued' }), 0);
});

test('pointsFor: step points carry their epoch when the steps per epoch are known', () => {
  const job = { started_at: '2026-01-01T00:00:00Z', progress: { steps: 10 } };
  const t0 = Date.parse(job.started_at) / 1000;
  const series = { loss: [[t0 + 1, 5, 0.9], [t0 + 2, 10, 0.8], [t0 + 3, 11, 0.5]] };
  assert.deepEqual(pointsFor(job, [], series, 'loss', 'step'), [[5, 0.9, 1], [10, 0.8, 1], [11, 0.5, 2]]);
  assert.deepEqual(pointsFor(job, [], series, 'loss', 'wall'), [[1, 0.9, 1], [2, 0.8, 1], [3, 0.5, 2]]);
  assert.deepEqual(pointsFor({}, [], series, 'loss', 'step'), [[5, 0.9], [10, 0.8], [11, 0.5]]);
  const rows = [{ epoch: 1, val_loss: 0.7 }, { epoch: 2, val_loss: 0.6 }];
  assert.deepEqual(pointsFor(job, rows, series, 'val_loss', 'epoch'), [[1, 0.7], [2, 0.6]]);
  assert.deepEqual(pointsFor(job, rows, series, 'val_loss', 'step'), [[10, 0.7], [20, 0.6]]);
});
