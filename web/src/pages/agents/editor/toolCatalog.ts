/**
 * The built-in tools come from the server (`GET /v1/tools`: description, config schema, whether it can run
 * them now); this module turns a tool's `config_schema` into form fields, converts between the fields' text
 * and the config's JSON values, and checks a config against its schema (the API stores config as given, so
 * this check is what stops a config the tool would misread).
 *
 * Entries named `mcp:<server>` offer the tools of an MCP server the organisation registered; their config is
 * edited as JSON.
 */
import type { ToolOut } from '../../../api/types';

/** Friendlier names for the tools the platform ships; any other tool shows its name. */
const TOOL_LABELS: Record<string, string> = {
  http_request: 'HTTP request',
  web_fetch: 'Fetch web page',
  web_search: 'Web search',
  python: 'Python sandbox',
  sql_query: 'SQL query',
};

export const toolLabel = (name: string): string =>
  TOOL_LABELS[name] ?? (name.startsWith('mcp:') ? `MCP server “${name.slice(4)}”` : name);

export const MCP_DESCRIPTION = 'The tools of an MCP server registered by the organisation (all, or those listed in config.tools).';
export const MCP_CONFIG_EXAMPLE = '{"tools": ["search_issues"]}';

export const findTool = (catalogue: ToolOut[] | undefined, name: string): ToolOut | undefined =>
  catalogue?.find((tool) => tool.name === name);

// ---- config schema → fields ------------------------------------------------------------------------------

export type ConfigFieldKind = 'strings' | 'connections' | 'integer' | 'number' | 'boolean' | 'text' | 'choice';

export interface ConfigField {
  name: string;
  kind: ConfigFieldKind;
  label: string;
  description?: string;
  required: boolean;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  options?: string[];
}

const FIELD_LABELS: Record<string, string> = {
  allowed_domains: 'Allowed domains',
  connections: 'SQL connections',
  max_results: 'Maximum results',
};

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const num = (value: unknown) => (typeof value === 'number' ? value : undefined);

const humanize = (name: string) => {
  const words = name.replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/**
 * The form fields for a config schema, or null when some property needs the JSON editor (nested objects,
 * arrays of anything but text, unions…). `connections` (names of the organisation's SQL connections) is
 * offered as a choice among them.
 */
export function configFields(schema: unknown): ConfigField[] | null {
  if (!isObject(schema) || (schema.type !== undefined && schema.type !== 'object')) return null;
  const properties = schema.properties === undefined ? {} : schema.properties;
  if (!isObject(properties)) return null;
  const required = Array.isArray(schema.required) ? schema.required.map(String) : [];
  const fields: ConfigField[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    if (!isObject(raw)) return null;
    const base = {
      name,
      label: typeof raw.title === 'string' ? raw.title : (FIELD_LABELS[name] ?? humanize(name)),
      description: typeof raw.description === 'string' ? raw.description : undefined,
      required: required.includes(name),
    };
    if (raw.type === 'array' && isObject(raw.items) && raw.items.type === 'string' && Object.keys(raw.items).length === 1) {
      fields.push({ ...base, kind: name === 'connections' ? 'connections' : 'strings', minItems: num(raw.minItems), maxItems: num(raw.maxItems) });
    } else if (raw.type === 'integer' || raw.type === 'number') {
      fields.push({ ...base, kind: raw.type, minimum: num(raw.minimum), maximum: num(raw.maximum) });
    } else if (raw.type === 'boolean') {
      fields.push({ ...base, kind: 'boolean' });
    } else if (raw.type === 'string' && Array.isArray(raw.enum) && raw.enum.every((option) => typeof option === 'string')) {
      fields.push({ ...base, kind: 'choice', options: raw.enum as string[] });
    } else if (raw.type === 'string' && raw.enum === undefined) {
      fields.push({ ...base, kind: 'text' });
    } else {
      return null;
    }
  }
  return fields;
}

/** A config's JSON text as an object ('' is `{}`), or null when it is not a JSON object. */
export function parseConfig(text: string): Json | null {
  if (!text.trim()) return {};
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/** The config as JSON text (no settings: empty). */
export const configText = (config: Json): string => (Object.keys(config).length ? JSON.stringify(config, null, 2) : '');

/** A config value as the text its field shows (lists one item per line). */
export function fieldText(field: ConfigField, value: unknown): string {
  if (value === undefined || value === null) return '';
  if ((field.kind === 'strings' || field.kind === 'connections') && Array.isArray(value)) return value.map(String).join('\n');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The config value for a field's text (undefined: leave the setting out). Text that is not a valid value is
 * kept as typed, for the check to report.
 */
export function fieldValue(field: ConfigField, text: string): unknown {
  const trimmed = text.trim();
  if (field.kind === 'strings' || field.kind === 'connections') {
    const items = text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    return items.length ? items : undefined;
  }
  if (!trimmed) return undefined;
  if (field.kind === 'integer' || field.kind === 'number') {
    const number = Number(trimmed);
    return Number.isFinite(number) ? number : trimmed;
  }
  return field.kind === 'text' ? text : trimmed;
}

/** What a text field shows: the text as typed while it still means the config's value, else the value. */
export function displayText(field: ConfigField, value: unknown, typed: string | undefined): string {
  if (typed !== undefined && JSON.stringify(fieldValue(field, typed)) === JSON.stringify(value)) return typed;
  return fieldText(field, value);
}

/**
 * Why the config cannot be edited with fields (the JSON editor is shown instead), or null when it can.
 */
export function jsonOnlyReason(fields: ConfigField[] | null, config: Json | null): string | null {
  if (fields === null) return 'These settings are edited as JSON.';
  if (config === null) return 'The configuration is not a JSON object; fix it here.';
  const known = new Set(fields.map((field) => field.name));
  const unknown = Object.keys(config).filter((key) => !known.has(key));
  if (unknown.length) return `The configuration has settings this tool does not know (${unknown.join(', ')}); fix them here.`;
  return null;
}

// ---- checking a config against its schema ----------------------------------------------------------------

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

function fieldProblem(field: ConfigField, value: unknown): string | undefined {
  switch (field.kind) {
    case 'strings':
    case 'connections': {
      const noun = field.kind === 'connections' ? ['connection', 'connections'] : ['entry', 'entries'];
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) return 'Must be a list of names.';
      if (field.minItems !== undefined && value.length < field.minItems) {
        return field.kind === 'connections' ? `Choose at least ${plural(field.minItems, noun[0]!, noun[1]!)}.` : `Add at least ${plural(field.minItems, noun[0]!, noun[1]!)}.`;
      }
      if (field.maxItems !== undefined && value.length > field.maxItems) return `At most ${plural(field.maxItems, noun[0]!, noun[1]!)}.`;
      return undefined;
    }
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'Enter a number.';
      if (field.kind === 'integer' && !Number.isInteger(value)) return 'Enter a whole number.';
      if (field.minimum !== undefined && value < field.minimum) return `Must be at least ${field.minimum}.`;
      if (field.maximum !== undefined && value > field.maximum) return `Must be at most ${field.maximum}.`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'Must be true or false.';
    case 'choice':
      return typeof value === 'string' && field.options?.includes(value) ? undefined : `Choose one of ${field.options?.join(', ')}.`;
    case 'text':
      return typeof value === 'string' ? undefined : 'Must be text.';
  }
}

/**
 * Problems of a config under its tool's schema, keyed by setting name ('' for the config as a whole). Only
 * what the form can lay out is checked in depth; other schemas are left to the tool.
 */
export function configProblems(schema: unknown, config: Json): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!isObject(schema)) return problems;
  const properties = isObject(schema.properties) ? schema.properties : {};
  if (schema.additionalProperties === false) {
    const unknown = Object.keys(config).filter((key) => !(key in properties));
    if (unknown.length) {
      problems[''] =
        Object.keys(properties).length === 0
          ? 'This tool takes no configuration: leave it empty.'
          : `Not a setting of this tool: ${unknown.join(', ')} (it has ${Object.keys(properties).join(', ')}).`;
    }
  }
  const fields = configFields(schema) ?? [];
  const required = Array.isArray(schema.required) ? schema.required.map(String) : [];
  for (const name of required) {
    if (config[name] !== undefined) continue;
    const field = fields.find((item) => item.name === name);
    problems[name] = field?.kind === 'connections' ? 'Choose at least one connection.' : 'This setting is required.';
  }
  for (const field of fields) {
    if (config[field.name] === undefined) continue;
    const problem = fieldProblem(field, config[field.name]);
    if (problem) problems[field.name] = problem;
  }
  return problems;
}
