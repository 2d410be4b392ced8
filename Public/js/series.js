// Pure: a job's epoch rows and step series turned into chart points. No DOM access.
import { isNum } from './format.js';

/** The compiled metric to chart beside the loss (accuracy, or whatever the job logs). */
export function metricName(rows, series) {
  const skip = new Set(['epoch', 'loss', 'learning_rate', 'duration_seconds', 'samples_per_second', 'finished_at']);
  const keys = new Set([...Object.keys(series || {}), ...(rows || []).flatMap((r) => Object.keys(r))]);
  for (const k of keys) if (!skip.has(k) && !k.startsWith('val_') && !k.endsWith('loss')) return k;
  return null;
}

/** [[x, y, epoch?], …] of `key` for one job, by epoch, by step or by seconds since it started. Step values are
 *  running means that restart with each epoch (as Keras logs them): when the steps per epoch are known each
 *  point carries its epoch as a third element, and the chart draws each epoch as its own segment. */
export function pointsFor(job, rows, series, key, xMode) {
  rows = rows || [];
  if (xMode === 'epoch') return rows.filter((r) => isNum(r[key])).map((r) => [r.epoch, r[key]]);
  const s = (series || {})[key];
  const starts = [Date.parse(job && job.started_at) / 1000];
  if (s && s.length) starts.push(s[0][0]);
  const t0 = Math.min(...starts.filter(Number.isFinite));
  const stepsPerEpoch = job && job.progress && job.progress.steps;
  if (s && s.length) {
    const epochOf = isNum(stepsPerEpoch) && stepsPerEpoch > 0 ? (step) => Math.ceil(step / stepsPerEpoch) : null;
    return s.map(([wall, step, v]) => {
      const p = [xMode === 'step' ? step : wall - t0, v];
      if (epochOf) p.push(epochOf(step));
      return p;
    });
  }
  // Epoch-level keys (validation) on a step or time axis: at each epoch's end.
  return rows.filter((r) => isNum(r[key])).map((r) => [
    xMode === 'step' ? (isNum(stepsPerEpoch) ? r.epoch * stepsPerEpoch : NaN) : Date.parse(r.finished_at) / 1000 - (Number.isFinite(t0) ? t0 : 0),
    r[key]]);
}
