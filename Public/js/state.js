// What the views share: the jobs the page knows, their epoch rows and event streams, the comparison, the
// models and recipes, the view shown, and the job open in the detail view.
import { storage } from './dom.js';

export const jobs = new Map();          // id → Job
export const jobOrder = [];             // ids, newest first
export const epochCache = new Map();    // id → epoch rows (kept for finished jobs, updated live for running ones)
export const streams = new Map();       // id → EventSource
export const pollingJobs = new Set();   // jobs whose stream failed: polled instead
export const compareIds = new Set((storage('sequent.compare') || '').split(',').filter(Boolean));

export const page = {
  view: 'jobs',
  nextCursor: null,
  filter: '',            // the job list's query (jobs.js filterQuery)
  models: [],
  recipes: [],
  charts: { loss: null, accuracy: null, compare: null },
  focusAfterRoute: null,
};

/** The job open in the detail view. */
export const detail = {
  id: null, job: null, epochs: [], series: {}, model: null, xMode: 'step', smoothing: 0,
  lastMetrics: 0, metricsBusy: false, metricsQueued: false,
};
