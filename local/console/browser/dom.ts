/** DOM and API helpers shared by the console's modules. Data reaches the DOM only through textContent. */

/** Writes made with the console cookie must carry this header (a cross-site form cannot set it). */
const HEADERS = { 'x-recc-console': '1' };

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: unknown, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

/** A row whose first cell is a row header (semantic tables for screen readers). */
export function row(head: unknown, cells: unknown[]): HTMLTableRowElement {
  const tr = el('tr');
  tr.appendChild(el('th', head)).setAttribute('scope', 'row');
  for (const c of cells) tr.appendChild(c instanceof HTMLElement ? c : el('td', c));
  return tr;
}

export interface ApiErrorDetail {
  path?: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: ApiErrorDetail[],
  ) {
    super(message);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, { method, headers: body === undefined ? HEADERS : { ...HEADERS, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = (data && data.error) || { message: res.status + ' ' + res.statusText, details: [] };
    throw new ApiError(String(e.message), res.status, Array.isArray(e.details) ? e.details : []);
  }
  return data as T;
}

export function showError(box: HTMLElement, err: unknown): void {
  box.replaceChildren(el('p', err instanceof Error ? err.message : String(err)));
  const details = err instanceof ApiError ? err.details : [];
  if (details.length > 0) {
    const ul = el('ul');
    for (const d of details) ul.appendChild(el('li', (d.path ? d.path + ': ' : '') + d.message));
    box.appendChild(ul);
  }
}

export function ago(iso: string | undefined | null): string {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 90 ? Math.round(s) + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : s < 172800 ? (s / 3600).toFixed(1) + ' h' : Math.round(s / 86400) + ' d';
}

export const money = (n: unknown): string => (typeof n === 'number' ? n.toFixed(2) : '');
