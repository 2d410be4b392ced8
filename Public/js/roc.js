// Pure: a binary model's operating point at a threshold, read off its stored ROC curve. No DOM access.
import { isNum } from './format.js';

/** The numbers of positive (class 1) and negative (class 0) samples, from the per-class supports. */
export function classTotals(evaluation) {
  const per = (evaluation && evaluation.per_class) || [];
  return { positives: (per[1] && per[1].support) || 0, negatives: (per[0] && per[0].support) || 0 };
}

/** The ROC point in force at `threshold`: the one of lowest threshold still ≥ it (a point predicts positive every
 *  score ≥ its threshold; the first, threshold null, predicts nothing positive). Points come highest threshold
 *  first, as the evaluation stores them; the curve is thinned, so this is the nearest stored point at or above. */
export function pointAt(points, threshold) {
  let chosen = null;
  for (const p of points || []) {
    const t = isNum(p.threshold) ? p.threshold : Infinity;
    if (t >= threshold) chosen = p; else break;
  }
  return chosen || (points && points[0]) || null;
}

/** Precision, recall, FPR, TPR and the confusion counts at `threshold`, from the ROC points and the class totals.
 *  A ratio with nothing to divide by is 0, as the per-class table reports it. */
export function operatingPoint(points, threshold, { positives, negatives }) {
  const p = pointAt(points, threshold);
  if (!p) return null;
  const tp = Math.round(p.tpr * positives), fp = Math.round(p.fpr * negatives);
  const fn = positives - tp, tn = negatives - fp;
  return {
    threshold: isNum(p.threshold) ? p.threshold : null, fpr: p.fpr, tpr: p.tpr, tp, fp, fn, tn,
    precision: tp + fp === 0 ? 0 : tp / (tp + fp), recall: positives === 0 ? 0 : tp / positives,
  };
}
