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

/** The epoch whose monitored value is best (the first of equal ones), or null when no row has it. */
export function bestEpoch(rows, spec) {
  const { key, mode } = monitorOf(spec);
  let best = null;
  for (const r of rows || []) {
    const v = r[key];
    if (!isNum(v)) continue;
    if (!best || (mode === 'min' ? v < best.value : v > best.value)) best = { epoch: r.epoch, key, value: v };
  }
  return best;
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
