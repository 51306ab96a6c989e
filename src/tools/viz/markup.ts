// SPDX-License-Identifier: GPL-2.0-only
/**
 * The one place where text enters HTML or SVG.
 *
 * Every renderer (the report, chunk maps, charts) builds markup with the `html`
 * tagged template: each interpolated value is escaped unless it is already
 * `Markup` (the result of another `html` template, or of `joinMarkup`). A
 * string from an input — a file name, a call site, a task name, a golden
 * header — therefore cannot become an element or an attribute, whatever it
 * contains. Numbers are written as they print.
 *
 * Invariant: unescaped text gets into a `Markup` value only as a template's
 * literal parts, or through the constructor, which only this folder's
 * renderers call, for SVG they drew themselves with `escapeText`.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside an element or a quoted attribute value. */
export function escapeText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Markup built by `html` (or joined from such): never escaped again. */
export class Markup {
  constructor(private readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Interpolated = Markup | string | number | boolean | null | undefined | readonly Interpolated[];

function piece(v: Interpolated): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Markup) return v.toString();
  if (Array.isArray(v)) return v.map(piece).join('');
  return escapeText(String(v));
}

/** A markup template: literal parts as written, every interpolation escaped (arrays joined). */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Markup {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += piece(values[i]!) + strings[i + 1]!;
  return new Markup(out);
}

/** Join markup values with a literal separator. */
export function joinMarkup(parts: readonly Markup[], separator = ''): Markup {
  return new Markup(parts.map((p) => p.toString()).join(separator));
}
