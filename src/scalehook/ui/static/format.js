// How values read on a page: ages, sizes, labels, and who did what.

export function age(iso, now = Date.now()) {
  if (!iso) return '';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

export function bytes(value) {
  if (value === null || value === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = Number(value);
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function percent(value) {
  if (value === null || value === undefined) return '–';
  return `${Number(value).toFixed(1)} %`;
}

export function labels(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return '';
  return entries.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(', ');
}

/** "k=v, k2" → {k: 'v', k2: ''}; an error naming the bad part otherwise. */
export function parseLabels(textValue) {
  const out = {};
  for (const part of String(textValue || '').split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (!key) throw new Error(`'${item}' has no label name`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1).trim();
  }
  return out;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const DRIVER_WORDS = {
  api: 'by hand',
  scaleService: 'receiver',
  serviceUpgrade: 'upgrade',
  scaleHost: 'host receiver',
  policy: 'policy',
  health: 'health check',
};

/** Who made an execution, in words: "receiver web-up", "by hand (127.0.0.1)", "policy cpu". */
export function who(execution) {
  const word = DRIVER_WORDS[execution.driver] || execution.driver;
  if (execution.receiver_name) return `${word} ${execution.receiver_name}`;
  if (execution.driver === 'api' && execution.caller) return `${word} (${execution.caller})`;
  return word;
}

export function change(execution) {
  const { before, after } = execution;
  if (before === null || before === undefined || after === null || after === undefined) return '';
  return before === after ? `${before}` : `${before} → ${after}`;
}
