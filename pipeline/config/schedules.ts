import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import type { MpmConfig } from './connections.ts';

/**
 * The schedule settings written in the config file, unvalidated (jobs/schedules.ts validates them).
 * Two places are read:
 * - the top-level `schedules` section: `{ "<connection>": {...}, "<connection>.<stream>": {...} }`;
 * - a connection entry's own `schedule` and `schedules: { <stream>: {...} }` keys. Note that a
 *   connection entry's other keys are validated by its connector's schema, and strict schemas
 *   (csv) reject unknown keys, so for those use the top-level section.
 */
export interface RawScheduleEntries {
  /** Key: '<connection>' or '<connection>.<stream>'; later sources win over earlier ones (entry keys over the section). */
  byTarget: Map<string, { value: unknown; where: string }>;
}

function readRawFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`${path.basename(file)} is not valid: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function readScheduleEntries(config: MpmConfig): RawScheduleEntries {
  const byTarget = new Map<string, { value: unknown; where: string }>();
  const section = config.sections.schedules;
  if (section !== undefined) {
    if (!section || typeof section !== 'object' || Array.isArray(section)) throw new ConfigError('schedules: must be an object keyed by <connection> or <connection>.<stream>');
    for (const [target, value] of Object.entries(section)) byTarget.set(target, { value, where: `schedules.${target}` });
  }
  if (config.file) {
    const raw = readRawFile(config.file);
    const entries = raw && typeof raw === 'object' && 'connections' in raw && Array.isArray(raw.connections) ? (raw.connections as unknown[]) : [];
    for (const entry of entries) {
      if (!entry || typeof entry !== 'object') continue;
      const e = entry as Record<string, unknown>;
      if (typeof e.id !== 'string') continue;
      if (e.schedule !== undefined) byTarget.set(e.id, { value: e.schedule, where: `connection ${e.id}: schedule` });
      if (e.schedules && typeof e.schedules === 'object') {
        for (const [stream, value] of Object.entries(e.schedules as Record<string, unknown>)) {
          byTarget.set(`${e.id}.${stream}`, { value, where: `connection ${e.id}: schedules.${stream}` });
        }
      }
    }
  }
  return { byTarget };
}
