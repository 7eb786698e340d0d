/**
 * The agent form's state ("draft") and its conversion to and from the API's agent body.
 *
 * Inputs hold text (a number field may be empty or half-typed), so the draft is strings; `toAgentBody`
 * validates and converts, reporting problems under the same field paths the API uses in validation
 * errors (`model.fallbacks.0.name`, `policies.max_steps`, …), so client and server errors land on the same
 * inputs.
 */
import type { AgentCreate, AgentOut, AgentVisibility, Role, ToolOut } from '../../../api/types';
import type { Errors } from '../../../components/useFormErrors';
import { configProblems, findTool } from './toolCatalog';

export type Provider = 'mock' | 'openai' | 'anthropic';
export const PROVIDERS: { value: Provider; label: string }[] = [
  { value: 'openai', label: 'OpenAI (or compatible)' },
  { value: 'anthropic', label: 'Anthropic' },
  { value: 'mock', label: 'Mock (offline, for tests)' },
];
export const MOCK_MODELS = ['echo', 'fixed', 'scripted', 'match'];
/** The model a target starts with on each provider: never empty (an empty name fails every run). */
export const DEFAULT_MODELS: Record<Provider, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5', mock: 'echo' };
export const MAX_FALLBACKS = 5;
export const MAX_TEMPLATE_CHARS = 100_000;

export interface TargetDraft {
  key: string;
  provider: Provider;
  name: string;
  temperature: string;
  top_p: string;
  max_tokens: string;
  /** Other options, as a JSON object (e.g. the mock's `script`). */
  extra: string;
  /** The organisation credential that reaches this model (empty: the one named "default", else the server's key). */
  credential: string;
}

export type VariableType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
export const VARIABLE_TYPES: VariableType[] = ['string', 'number', 'integer', 'boolean', 'object', 'array'];

export interface VariableDraft {
  key: string;
  name: string;
  type: VariableType;
  description: string;
  required: boolean;
}

export interface RuleDraft {
  key: string;
  /** `argument=pattern`, one per line. */
  text: string;
}

export interface ToolDraft {
  key: string;
  name: string;
  needs_approval: boolean;
  min_role: '' | Role;
  /** The config as JSON text: what is saved, whichever editor changed it last. */
  config: string;
  /** The settings' fields as typed (a list one per line, a half-typed number), shown while they mean the same. */
  configTyped: Record<string, string>;
  /** Edit the config as JSON even though its schema has fields. */
  configAsJson: boolean;
  rules: RuleDraft[];
}

export const POLICY_FIELDS = [
  'max_steps',
  'max_tokens_per_run',
  'max_cost_per_run_usd',
  'timeout_s',
  'max_attempts',
  'backoff_base_s',
  'backoff_max_s',
  'max_concurrent_runs',
  'approval_timeout_s',
] as const;
export type PolicyNumber = (typeof POLICY_FIELDS)[number];

export interface PoliciesDraft extends Record<PolicyNumber, string> {
  on_limit: '' | 'enqueue' | 'reject';
  /** null: every tool of the agent may be called. */
  tool_allowlist: string[] | null;
  retryable_errors: string;
  non_retryable_errors: string;
}

export interface AgentDraft {
  name: string;
  description: string;
  visibility: AgentVisibility;
  model: TargetDraft;
  fallbacks: TargetDraft[];
  system_prompt: string;
  prompt_template: string;
  /** `variables`: the editor below builds the schema; `json`: the schema is edited as JSON text. */
  schemaMode: 'variables' | 'json';
  variables: VariableDraft[];
  schemaJson: string;
  tools: ToolDraft[];
  policies: PoliciesDraft;
}

let keySeq = 0;
export const newKey = () => `k${(keySeq += 1)}`;

export const emptyTarget = (provider: Provider = 'mock'): TargetDraft => ({
  key: newKey(),
  provider,
  name: DEFAULT_MODELS[provider],
  temperature: '',
  top_p: '',
  max_tokens: '',
  extra: '',
  credential: '',
});

export const emptyVariable = (): VariableDraft => ({ key: newKey(), name: '', type: 'string', description: '', required: true });

export const emptyTool = (name = ''): ToolDraft => ({
  key: newKey(),
  name,
  needs_approval: false,
  min_role: '',
  config: '',
  configTyped: {},
  configAsJson: false,
  rules: [],
});

/** A new agent on `provider`: pick one that works on this server (see `providers.ts`); the mock always does. */
export function emptyDraft(provider: Provider = 'mock'): AgentDraft {
  return {
    name: '',
    description: '',
    visibility: 'org',
    model: emptyTarget(provider),
    fallbacks: [],
    system_prompt: '',
    prompt_template: '',
    schemaMode: 'variables',
    variables: [{ ...emptyVariable(), name: 'message', description: 'What the user asks.' }],
    schemaJson: '',
    tools: [],
    policies: {
      max_steps: '',
      max_tokens_per_run: '',
      max_cost_per_run_usd: '',
      timeout_s: '',
      max_attempts: '',
      backoff_base_s: '',
      backoff_max_s: '',
      max_concurrent_runs: '',
      approval_timeout_s: '',
      on_limit: '',
      tool_allowlist: null,
      retryable_errors: '',
      non_retryable_errors: '',
    },
  };
}

// ---- from the API ---------------------------------------------------------------------------------------

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const text = (value: unknown) => (value === undefined || value === null ? '' : String(value));

function targetFrom(raw: unknown): TargetDraft {
  const target = isObject(raw) ? raw : {};
  const options = isObject(target.options) ? { ...target.options } : {};
  const { temperature, top_p, max_tokens, ...extra } = options;
  const provider = (['mock', 'openai', 'anthropic'].includes(String(target.provider)) ? target.provider : 'openai') as Provider;
  return {
    key: newKey(),
    provider,
    name: text(target.name),
    temperature: text(temperature),
    top_p: text(top_p),
    max_tokens: text(max_tokens),
    extra: Object.keys(extra).length ? JSON.stringify(extra, null, 2) : '',
    credential: provider === 'mock' ? '' : text(target.credential),
  };
}

/** The variables of a flat object schema, or null when the schema needs the JSON editor. */
export function variablesFromSchema(schema: unknown): VariableDraft[] | null {
  if (!isObject(schema)) return [];
  const { type, properties = {}, required = [], ...rest } = schema;
  if (type !== 'object' || !isObject(properties) || !Array.isArray(required)) return null;
  if (Object.keys(rest).some((key) => key !== 'additionalProperties' && key !== 'title' && key !== '$schema')) return null;
  const variables: VariableDraft[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    if (!isObject(raw)) return null;
    const { type: varType, description, title, ...more } = raw;
    if (Object.keys(more).length || title !== undefined) return null;
    if (!VARIABLE_TYPES.includes(varType as VariableType)) return null;
    variables.push({
      key: newKey(),
      name,
      type: varType as VariableType,
      description: text(description),
      required: required.includes(name),
    });
  }
  return variables;
}

export function draftFromAgent(agent: AgentOut): AgentDraft {
  const model = isObject(agent.model) ? agent.model : {};
  const policies = isObject(agent.policies) ? agent.policies : {};
  const variables = variablesFromSchema(agent.input_schema);
  const base = emptyDraft();
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String).join(', ') : '');
  return {
    name: agent.name,
    description: agent.description,
    visibility: agent.visibility,
    model: targetFrom(model),
    fallbacks: Array.isArray(model.fallbacks) ? model.fallbacks.map(targetFrom) : [],
    system_prompt: agent.system_prompt,
    prompt_template: agent.prompt_template ?? '',
    schemaMode: variables === null ? 'json' : 'variables',
    variables: variables ?? [],
    schemaJson: agent.input_schema ? JSON.stringify(agent.input_schema, null, 2) : '',
    tools: agent.tools.map((raw) => {
      const tool = isObject(raw) ? raw : {};
      const rules = Array.isArray(tool.approval_rules) ? tool.approval_rules : [];
      return {
        key: newKey(),
        name: text(tool.name),
        needs_approval: tool.needs_approval === true,
        min_role: (['user', 'operator', 'admin'].includes(String(tool.min_role)) ? tool.min_role : '') as ToolDraft['min_role'],
        config: isObject(tool.config) && Object.keys(tool.config).length ? JSON.stringify(tool.config, null, 2) : '',
        configTyped: {},
        configAsJson: false,
        rules: rules.map((rule) => ({
          key: newKey(),
          text: Object.entries(isObject(rule) && isObject(rule.arguments) ? rule.arguments : {})
            .map(([arg, pattern]) => `${arg}=${String(pattern)}`)
            .join('\n'),
        })),
      };
    }),
    policies: {
      ...base.policies,
      ...Object.fromEntries(POLICY_FIELDS.map((field) => [field, text(policies[field])])),
      on_limit: policies.on_limit === 'enqueue' || policies.on_limit === 'reject' ? policies.on_limit : '',
      tool_allowlist: Array.isArray(policies.tool_allowlist) ? policies.tool_allowlist.map(String) : null,
      retryable_errors: list(policies.retryable_errors),
      non_retryable_errors: list(policies.non_retryable_errors),
    },
  };
}

// ---- to the API -----------------------------------------------------------------------------------------

interface NumberRule {
  integer?: boolean;
  min?: number;
  /** `min` is exclusive (greater than). */
  exclusiveMin?: boolean;
  max?: number;
}

function parseNumber(raw: string, rule: NumberRule): { value?: number; error?: string } {
  const trimmed = raw.trim();
  if (!trimmed) return {};
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { error: 'Enter a number.' };
  if (rule.integer && !Number.isInteger(value)) return { error: 'Enter a whole number.' };
  if (rule.min !== undefined && (rule.exclusiveMin ? value <= rule.min : value < rule.min)) {
    return { error: rule.exclusiveMin ? `Must be more than ${rule.min}.` : `Must be at least ${rule.min}.` };
  }
  if (rule.max !== undefined && value > rule.max) return { error: `Must be at most ${rule.max}.` };
  return { value };
}

function parseJsonObject(raw: string): { value?: Record<string, unknown>; error?: string } {
  if (!raw.trim()) return { value: {} };
  try {
    const value: unknown = JSON.parse(raw);
    return isObject(value) ? { value } : { error: 'Enter a JSON object ({…}).' };
  } catch (error) {
    return { error: `Not valid JSON: ${error instanceof Error ? error.message : 'parse error'}.` };
  }
}

const TOOL_NAME = /^[A-Za-z0-9_.:-]+$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function targetBody(target: TargetDraft, path: string, errors: Errors) {
  const name = target.name.trim();
  if (!name) errors[`${path}.name`] = 'Enter the model name.';
  else if (name.length > 200) errors[`${path}.name`] = 'Use at most 200 characters.';
  else if (target.provider === 'mock' && !MOCK_MODELS.includes(name)) {
    errors[`${path}.name`] = `The mock provider has the models ${MOCK_MODELS.join(', ')}.`;
  }
  const extra = parseJsonObject(target.extra);
  if (extra.error) errors[`${path}.options`] = extra.error;
  const options: Record<string, unknown> = { ...(extra.value ?? {}) };
  const numbers: [keyof TargetDraft & ('temperature' | 'top_p' | 'max_tokens'), NumberRule][] = [
    ['temperature', { min: 0, max: 2 }],
    ['top_p', { min: 0, max: 1 }],
    ['max_tokens', { integer: true, min: 1, max: 1_000_000 }],
  ];
  for (const [field, rule] of numbers) {
    const parsed = parseNumber(target[field], rule);
    if (parsed.error) errors[`${path}.options.${field}`] = parsed.error;
    else if (parsed.value !== undefined) options[field] = parsed.value;
  }
  const credential = target.provider === 'mock' ? '' : target.credential.trim();
  if (credential.length > 100) errors[`${path}.credential`] = 'Use at most 100 characters.';
  // Absent rather than null when unset: an agent saved without one compares equal.
  return { provider: target.provider, name, options, ...(credential ? { credential } : {}) };
}

function rulesBody(rules: RuleDraft[], path: string, errors: Errors) {
  return rules.map((rule, index) => {
    const args: Record<string, string> = {};
    const lines = rule.text.split('\n').map((line) => line.trim()).filter(Boolean);
    for (const line of lines) {
      const at = line.indexOf('=');
      if (at <= 0 || at === line.length - 1) {
        errors[`${path}.${index}.arguments`] = `Write each line as argument=pattern (“${line}” is not).`;
        break;
      }
      args[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    if (lines.length === 0) errors[`${path}.${index}.arguments`] = 'Add at least one argument=pattern line, or remove the rule.';
    return { arguments: args };
  });
}

/** The input schema the draft declares (null: none). Errors go under `input_schema`. */
export type SchemaDraft = Pick<AgentDraft, 'schemaMode' | 'variables' | 'schemaJson'>;

export function schemaFromDraft(draft: SchemaDraft, errors: Errors = {}): Record<string, unknown> | null {
  if (draft.schemaMode === 'json') {
    if (!draft.schemaJson.trim()) return null;
    const parsed = parseJsonObject(draft.schemaJson);
    if (parsed.error) {
      errors.input_schema = parsed.error;
      return null;
    }
    if (parsed.value?.type !== 'object') errors.input_schema = 'The schema’s "type" must be "object".';
    return parsed.value ?? null;
  }
  if (draft.variables.length === 0) return null;
  const properties: Record<string, unknown> = {};
  const seen = new Set<string>();
  draft.variables.forEach((variable, index) => {
    const name = variable.name.trim();
    if (!VARIABLE_NAME.test(name)) {
      errors[`variables.${index}.name`] = 'Use letters, digits and _ (not starting with a digit).';
    } else if (name.startsWith('_')) {
      errors[`variables.${index}.name`] = 'Names starting with _ are reserved.';
    } else if (seen.has(name)) {
      errors[`variables.${index}.name`] = 'This name is declared twice.';
    }
    seen.add(name);
    properties[name] = { type: variable.type, ...(variable.description.trim() ? { description: variable.description.trim() } : {}) };
  });
  const required = draft.variables.filter((variable) => variable.required).map((variable) => variable.name.trim());
  return { type: 'object', properties, ...(required.length ? { required } : {}) };
}

const errorList = (raw: string) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/**
 * Validate the draft; the agent body when it is valid. With the server's tool catalogue, each built-in tool's
 * config is checked against its schema too (under `tools.<i>.config.<setting>`).
 */
export function toAgentBody(draft: AgentDraft, catalogue?: ToolOut[]): { body: AgentCreate | null; errors: Errors } {
  const errors: Errors = {};
  const name = draft.name.trim();
  if (!name) errors.name = 'Give the agent a name.';
  else if (name.length > 200) errors.name = 'Use at most 200 characters.';
  if (draft.description.length > 5000) errors.description = 'Use at most 5,000 characters.';

  const model = targetBody(draft.model, 'model', errors);
  if (draft.fallbacks.length > MAX_FALLBACKS) errors['model.fallbacks'] = `At most ${MAX_FALLBACKS} fallbacks.`;
  const fallbacks = draft.fallbacks.map((target, index) => targetBody(target, `model.fallbacks.${index}`, errors));

  if (draft.system_prompt.length > MAX_TEMPLATE_CHARS) errors.system_prompt = 'The template is too long (100,000 characters at most).';
  if (draft.prompt_template.length > MAX_TEMPLATE_CHARS) errors.prompt_template = 'The template is too long (100,000 characters at most).';
  const inputSchema = schemaFromDraft(draft, errors);

  const seenTools = new Set<string>();
  const tools = draft.tools.map((tool, index) => {
    const toolName = tool.name.trim();
    if (!toolName) errors[`tools.${index}.name`] = 'Choose a tool.';
    else if (!TOOL_NAME.test(toolName) || toolName.length > 128) errors[`tools.${index}.name`] = 'Use letters, digits and _ . : - only.';
    else if (seenTools.has(toolName)) errors[`tools.${index}.name`] = 'This tool is listed twice.';
    seenTools.add(toolName);
    const config = parseJsonObject(tool.config);
    if (config.error) errors[`tools.${index}.config`] = config.error;
    const known = findTool(catalogue, toolName);
    if (known && config.value) {
      for (const [setting, problem] of Object.entries(configProblems(known.config_schema, config.value))) {
        errors[setting ? `tools.${index}.config.${setting}` : `tools.${index}.config`] = problem;
      }
    }
    return {
      name: toolName,
      config: config.value ?? {},
      needs_approval: tool.needs_approval,
      approval_rules: rulesBody(tool.rules, `tools.${index}.approval_rules`, errors),
      min_role: tool.min_role || null,
    };
  });

  const policies: Record<string, unknown> = {};
  const rules: Record<PolicyNumber, NumberRule> = {
    max_steps: { integer: true, min: 1, max: 1000 },
    max_tokens_per_run: { integer: true, min: 1 },
    max_cost_per_run_usd: { min: 0, exclusiveMin: true },
    timeout_s: { integer: true, min: 1, max: 7 * 24 * 3600 },
    max_attempts: { integer: true, min: 1, max: 100 },
    backoff_base_s: { min: 0, exclusiveMin: true, max: 3600 },
    backoff_max_s: { min: 0, exclusiveMin: true, max: 24 * 3600 },
    max_concurrent_runs: { integer: true, min: 1, max: 10_000 },
    approval_timeout_s: { integer: true, min: 1, max: 30 * 24 * 3600 },
  };
  for (const field of POLICY_FIELDS) {
    const parsed = parseNumber(draft.policies[field], rules[field]);
    if (parsed.error) errors[`policies.${field}`] = parsed.error;
    else if (parsed.value !== undefined) policies[field] = parsed.value;
  }
  if (
    typeof policies.backoff_base_s === 'number' &&
    typeof policies.backoff_max_s === 'number' &&
    policies.backoff_max_s < policies.backoff_base_s
  ) {
    errors['policies.backoff_max_s'] = 'Must not be below the base backoff.';
  }
  if (draft.policies.on_limit) policies.on_limit = draft.policies.on_limit;
  if (draft.policies.tool_allowlist !== null) policies.tool_allowlist = draft.policies.tool_allowlist;
  const retryable = errorList(draft.policies.retryable_errors);
  if (retryable.length) policies.retryable_errors = retryable;
  const nonRetryable = errorList(draft.policies.non_retryable_errors);
  if (nonRetryable.length) policies.non_retryable_errors = nonRetryable;

  if (Object.keys(errors).length) return { body: null, errors };
  return {
    errors,
    body: {
      name,
      description: draft.description.trim(),
      visibility: draft.visibility,
      model: { ...model, fallbacks },
      system_prompt: draft.system_prompt,
      prompt_template: draft.prompt_template.trim() ? draft.prompt_template : null,
      input_schema: inputSchema,
      tools: tools as AgentCreate['tools'],
      policies: policies as AgentCreate['policies'],
    },
  };
}

// ---- templates ------------------------------------------------------------------------------------------

const KEYWORDS = new Set(['true', 'false', 'none', 'True', 'False', 'None', 'loop', 'range', 'not', 'and', 'or', 'in', 'is', 'if', 'else']);

/**
 * Variables a Jinja2 template reads (a best-effort scan, for a hint: the API checks templates for real when
 * the agent is saved). Loop and `set` variables are left out.
 */
export function templateVariables(source: string): string[] {
  const found = new Set<string>();
  const local = new Set<string>();
  for (const match of source.matchAll(/\{%-?\s*for\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in\b/g)) {
    if (match[1]) local.add(match[1]);
    if (match[2]) local.add(match[2]);
  }
  for (const match of source.matchAll(/\{%-?\s*set\s+([A-Za-z_]\w*)/g)) if (match[1]) local.add(match[1]);
  for (const match of source.matchAll(/\{\{-?([\s\S]*?)-?\}\}|\{%-?([\s\S]*?)-?%\}/g)) {
    const expression = (match[1] ?? match[2] ?? '')
      .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, ' ') // string literals
      .replace(/^\s*(?:for\s+\w+(?:\s*,\s*\w+)?\s+in|if|elif|set\s+\w+\s*=|endfor|endif|else)\b/, ' ');
    for (const name of expression.matchAll(/(^|[^.\w|])([A-Za-z_]\w*)/g)) {
      const identifier = name[2];
      if (!identifier || KEYWORDS.has(identifier) || local.has(identifier)) continue;
      // A filter or test name (`| upper`, `is defined`) is not a variable.
      const before = expression.slice(0, name.index + name[1]!.length).trimEnd();
      if (before.endsWith('|') || before.endsWith(' is') || before.endsWith(' is not')) continue;
      found.add(identifier);
    }
  }
  return [...found].sort();
}

/** Variables the templates use that the schema does not declare. */
export function undeclaredVariables(draft: AgentDraft): string[] {
  const schema = schemaFromDraft(draft);
  const declared = new Set(Object.keys(isObject(schema?.properties) ? schema.properties : {}));
  const used = new Set([...templateVariables(draft.system_prompt), ...templateVariables(draft.prompt_template)]);
  return [...used].filter((name) => !declared.has(name)).sort();
}
