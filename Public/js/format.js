// Pure helpers: number, time and CSV formatting, job progress. No DOM access, so node's test runner imports it.

export const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
export const ACTIVE = new Set(['queued', 'running', 'cancelling']);
export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

export function fmtNum(v, digits = 4) {
  if (!isNum(v)) return '—';
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}
export const fmtInt = (v) => (isNum(v) ? Math.round(v).toLocaleString('en-US') : '—');
export const fmtPct = (v) => (isNum(v) ? `${(v * 100).toFixed(1)}%` : '—');
export function fmtDuration(seconds) {
  if (!isNum(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${mm}:${String(ss).padStart(2, '0')}`;
}
export function fmtAgo(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const d = (now - t) / 1000;
  if (d < 45) return 'just now';
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}
export const fmtDate = (iso) => (iso && Number.isFinite(Date.parse(iso))
  ? new Date(Date.parse(iso)).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '—');

/** One CSV field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, quote, CR or LF,
 *  or starts or ends with a space; null and undefined are empty; numbers keep their full precision. Text that
 *  starts with `=`, `+`, `-`, `@`, a tab or a CR gets a leading `'`, so a spreadsheet never runs a job's name as a
 *  formula (CSV injection); a negative number stays a number. */
export function csvField(v) {
  if (v == null) return '';
  let s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
/** A CSV document: a header line of `columns`, then one line per row (objects read by column name), CRLF
 *  line ends as RFC 4180 has them. */
export function toCSV(columns, rows) {
  const lines = [columns.map(csvField).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** 0…1: finished epochs plus the current epoch's share of steps. */
export function progressOf(job) {
  const p = job.progress || {};
  if (job.state === 'succeeded') return 1;
  if (!isNum(p.epochs) || p.epochs <= 0) return 0;
  const inEpoch = isNum(p.steps) && p.steps > 0 ? (p.step || 0) / p.steps : 0;
  return Math.min(1, Math.max(0, ((p.epoch || 1) - 1 + inEpoch) / p.epochs));
}
