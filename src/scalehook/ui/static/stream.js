// The audit trail live: GET /v1/executions/stream (server-sent events) with the list's
// filters. The browser's EventSource reconnects by itself, sending the last event id.

import { url } from './api.js';

/** Listen for executions; onExecution(execution) for each new or changed one. `after`:
 * the highest id the page has already (those recorded between its list and the stream's
 * start are sent too, not lost); without it the stream starts from now. */
export function listen(filters, { after, onExecution, onState }) {
  const source = new EventSource(url('v1/executions/stream', { ...filters, after }));
  source.addEventListener('execution', (event) => {
    try {
      onExecution(JSON.parse(event.data));
    } catch (error) {
      console.error('a stream event that is not an execution', error);
    }
  });
  source.addEventListener('open', () => onState && onState('live'));
  source.addEventListener('error', () => {
    if (onState) onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  });
  return () => source.close();
}

/** The highest execution id of a list (0 for none): where a stream picks up. */
export function newest(executions) {
  let highest = 0;
  for (const e of executions) highest = Math.max(highest, e.id);
  return highest;
}

/** Run fn every ms milliseconds (and now, unless immediate is false), until the
 * returned function is called. */
export function every(ms, fn, { immediate = true } = {}) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (error) {
      console.warn(error);
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  if (immediate) tick();
  else timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
