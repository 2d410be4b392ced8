// Pure: marks on a job's epoch curves — the best epoch and the stretches that look like overfitting. No DOM access.
import { isNum } from './format.js';

/** What the best epoch is judged by: an early_stopping callback's monitor and mode when the spec has one (Keras's
 *  "auto" is max for accuracies, min otherwise), else the lowest val_loss. */
export function monitorOf(spec) {
  const cb = ((spec && spec.callbacks) || []).find((c) => c && c.type === 'early_stopping');
  const key = (cb && cb.monitor) || 'val_loss';
  const mode = cb && (cb.mode === 'min' || cb.mode === 'max') ? cb.mode : key.includes('acc') ? 'max' : 'min';
  return { key, mode };
}

/** The epoch whose monitored value is best (the first of equal ones): {epoch, key, value}, or null when no row
 *  has a loss. Without the monitored key in any row (no validation data), the lowest loss. The chart's mark, the
 *  epoch table's ★ and the job list all use this one, so they never disagree. */
export function bestEpoch(rows, spec) {
  let { key, mode } = monitorOf(spec);
  if (!(rows || []).some((r) => isNum(r[key]))) ({ key, mode } = { key: 'loss', mode: 'min' });
  let best = null;
  for (const r of rows || []) {
    const v = r[key];
    if (!isNum(v)) continue;
    if (!best || (mode === 'min' ? v < best.value : v > best.value)) best = { epoch: r.epoch, key, value: v };
  }
  return best;
}

/** What a one-line summary shows of the best epoch: its number, and its val_accuracy (else accuracy, else the
 *  monitored value) — the epoch is chosen by `bestEpoch`, the number shown is the one a person reads first. */
export function bestHeadline(rows, spec) {
  const best = bestEpoch(rows, spec);
  if (!best) return null;
  const row = (rows || []).find((r) => r.epoch === best.epoch) || {};
  const key = ['val_accuracy', 'accuracy'].find((k) => isNum(row[k])) || best.key;
  return { epoch: best.epoch, key, value: row[key] };
}

/** The stretches [{from, to}] (epochs) where val_loss rises while loss keeps falling, epoch on epoch, for at least
 *  `minEpochs` epochs in a row: the model learning its training set at the validation set's expense. */
export function overfittingRegions(rows, minEpochs = 2) {
  const r = (rows || []).filter((x) => isNum(x.loss) && isNum(x.val_loss));
  const regions = [];
  let start = null;
  const close = (end) => {
    if (start != null && end - start >= minEpochs) regions.push({ from: r[start].epoch, to: r[end].epoch });
    start = null;
  };
  for (let i = 1; i < r.length; i++) {
    const diverging = r[i].val_loss > r[i - 1].val_loss && r[i].loss < r[i - 1].loss && r[i].epoch === r[i - 1].epoch + 1;
    if (diverging) { if (start == null) start = i - 1; } else close(i - 1);
  }
  close(r.length - 1);
  return regions;
}
