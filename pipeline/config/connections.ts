import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { ConnectorDefinition } from '../../connectors/core/connector.ts';
import { CONNECTOR_NAMES } from '../../connectors/core/connector.ts';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { connectorByName } from '../../connectors/registry.ts';
import { registerSecretsIn } from '../secrets.ts';

/** A configured source: one account / portal / property of one connector. */
export interface Connection {
  id: string;
  connector: ConnectorDefinition<unknown>;
  /** Settings validated by the connector's schema. */
  config: unknown;
  /** Where it came from: the config file, or the connector's environment variables. */
  origin: 'file' | 'env';
}

export interface MpmConfig {
  /** The file read, if any. */
  file: string | undefined;
  connections: Connection[];
  /** Sections other issues define (transform, goals, schedules...), validated by their owners. */
  sections: Record<string, unknown>;
}

const CONFIG_FILES = ['mpm.config.json', 'mpm.config.yaml', 'mpm.config.yml'];

const connectionEntry = z.looseObject({
  id: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be snake_case: a lower-case letter, then letters, digits or _'),
  connector: z.enum(CONNECTOR_NAMES),
});

const fileSchema = z.looseObject({
  connections: z.array(z.unknown()).default([]),
});

/** Replaces ${VAR} in every string (secrets stay out of the file); a missing variable is an error naming the field. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, where: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${where}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, `${where}.${k}`)]));
  }
  return value;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(settings)'}: ${i.message}`).join('; ');
}

/** Validates one connection's settings with its connector's schema; errors name the connection and field. */
export function buildConnection(id: string, connector: ConnectorDefinition<unknown>, settings: Record<string, unknown>, origin: Connection['origin']): Connection {
  const parsed = connector.configSchema.safeParse(settings);
  if (!parsed.success) throw new ConfigError(`connection ${id} (${connector.name}): ${formatIssues(parsed.error)}`);
  registerSecretsIn(settings);
  return { id, connector, config: parsed.data, origin };
}

function findConfigFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!fs.existsSync(file)) throw new ConfigError(`MPM_CONFIG: ${file} does not exist`);
    return file;
  }
  return CONFIG_FILES.map((f) => path.resolve(cwd, f)).find((f) => fs.existsSync(f));
}

function parseFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`${path.basename(file)} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Loads the connections: from mpm.config.json/.yaml when present (only those), otherwise one
 * connection per connector whose environment variables are set, named after the connector.
 */
export function loadConfig(options: { cwd?: string; env?: NodeJS.ProcessEnv; file?: string | undefined } = {}): MpmConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = findConfigFile(cwd, options.file ?? env.MPM_CONFIG);

  if (!file) {
    const connections: Connection[] = [];
    for (const name of CONNECTOR_NAMES) {
      const connector = connectorByName(name);
      if (!connector) continue;
      const settings = connector.fromEnv(env);
      if (settings) connections.push(buildConnection(name, connector, settings, 'env'));
    }
    return { file: undefined, connections, sections: {} };
  }

  const base = path.basename(file);
  const top = fileSchema.safeParse(parseFile(file));
  if (!top.success) throw new ConfigError(`${base}: ${formatIssues(top.error)}`);
  const { connections: entries, ...sections } = top.data;
  const seen = new Set<string>();
  const connections = entries.map((entry, index) => {
    const head = connectionEntry.safeParse(entry);
    if (!head.success) throw new ConfigError(`${base}: connections[${index}]: ${formatIssues(head.error)}`);
    const { id, connector: connectorName, ...settings } = head.data;
    if (seen.has(id)) throw new ConfigError(`${base}: connection id ${id} is used twice`);
    seen.add(id);
    const connector = connectorByName(connectorName);
    if (!connector) throw new ConfigError(`${base}: connection ${id}: connector ${connectorName} is not available in this build`);
    const resolved = interpolate(settings, env, `connection ${id}`) as Record<string, unknown>;
    return buildConnection(id, connector, resolved, 'file');
  });
  return { file, connections, sections: interpolate(sections, env, base) as Record<string, unknown> };
}

/** Finds `<connection>` or `<connection>.<stream>`; errors list what exists. */
export function resolveTarget(config: MpmConfig, target: string): { connection: Connection; streams: Connection['connector']['streams'] } {
  const [connectionId, streamName, extra] = target.split('.');
  if (!connectionId || extra !== undefined) throw new ConfigError(`"${target}" is not <connection> or <connection>.<stream>`);
  const connection = config.connections.find((c) => c.id === connectionId);
  if (!connection) {
    const known = config.connections.map((c) => c.id).join(', ') || 'none: add mpm.config.json or set a connector\'s environment variables';
    throw new ConfigError(`unknown connection "${connectionId}" (configured: ${known})`);
  }
  if (streamName === undefined) return { connection, streams: connection.connector.streams };
  const stream = connection.connector.streams.find((s) => s.name === streamName);
  if (!stream) {
    throw new ConfigError(`connection ${connectionId} has no stream "${streamName}" (streams: ${connection.connector.streams.map((s) => s.name).join(', ')})`);
  }
  return { connection, streams: [stream] };
}
