// Installs or upgrades the catalog in one database: the numbered files of catalog-migrations/ are applied once each
// (recorded in _pg_llm_catalog.migrations), then the stubs are re-created from the function declarations. All of
// it in one transaction under an advisory lock, so concurrent installs queue and a failure leaves nothing behind.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { FUNCTIONS } from '../../functions/registry.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { stubSql } from './stubs.js';

export const CATALOG_SCHEMA = '_pg_llm_catalog';
const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'catalog-migrations');
const NUMBERED = /^(\d{4})_[a-z0-9_]+\.sql$/;
/** Any constant both installers agree on: two proxies installing at once take turns. */
const INSTALL_LOCK_KEY = 7_301_946_128;

export interface Migration {
  name: string;
  sql: string;
}

/** The numbered migrations shipped with this version, in order. */
export function shippedMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((file) => NUMBERED.test(file))
    .sort()
    .map((file) => ({ name: file.replace(/\.sql$/, ''), sql: readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8') }));
}

/** Applies what is missing and refreshes the stubs; returns the names of the migrations applied now. */
export async function migrate(client: pg.ClientBase, migrations: Migration[] = shippedMigrations()): Promise<string[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [INSTALL_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${CATALOG_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${CATALOG_SCHEMA}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${CATALOG_SCHEMA}.migrations`);
    const done = new Set(rows.map((row) => row.name));
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) continue;
      await client.query(migration.sql);
      await client.query(`INSERT INTO ${CATALOG_SCHEMA}.migrations (name) VALUES ($1)`, [migration.name]);
      applied.push(migration.name);
    }
    for (const declaration of FUNCTIONS) await client.query(stubSql(declaration));
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/** Removes the catalog and the stubs: what DROP EXTENSION pg_llm CASCADE does for the extension. */
export async function uninstall(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [INSTALL_LOCK_KEY]);
    for (const declaration of FUNCTIONS) {
      const types = declaration.arguments.map((argument) => argument.type).join(', ');
      await client.query(`DROP FUNCTION IF EXISTS public.${declaration.name}(${types}) CASCADE`);
    }
    await client.query(`DROP SCHEMA IF EXISTS ${CATALOG_SCHEMA} CASCADE`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
