/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** HTML that is already safe (built with `html` or trusted); interpolating it does not escape it again. */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

/**
 * Tagged template for server-rendered pages: every interpolated value is escaped unless it is
 * SafeHtml; arrays are joined; undefined, null and false render as nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += renderHtmlValue(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

function renderHtmlValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderHtmlValue).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}
