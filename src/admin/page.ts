// The admin dashboard's page: plain HTML, a script and a style sheet from src/admin/page/ in the package, read once
// and served as they are (no build step of their own). The script draws everything from GET /api/overview with
// textContent and SVG elements, never markup from data, and the policy below lets the page load nothing else.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

const PAGE_DIR = path.join(PACKAGE_ROOT, 'src', 'admin', 'page');

export const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** The page's files by the path they are served at, with their content types. */
export function pageFiles(): Map<string, { type: string; body: string }> {
  const file = (name: string, type: string) => ({ type, body: readFileSync(path.join(PAGE_DIR, name), 'utf8') });
  return new Map([
    ['/', file('index.html', 'text/html; charset=utf-8')],
    ['/dashboard.js', file('dashboard.js', 'text/javascript; charset=utf-8')],
    ['/dashboard.css', file('dashboard.css', 'text/css; charset=utf-8')],
  ]);
}
