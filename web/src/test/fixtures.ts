/** Factories for API objects in tests: valid by default, overridable field by field. */
import type {
  AgentOut,
  AgentSummary,
  ApiKeyOut,
  ApprovalOut,
  EventOut,
  Me,
  RenderDraftIn,
  RenderDraftOut,
  ScheduleOut,
  StepOut,
  SystemInfo,
  TaskOut,
  ToolOut,
} from '../api/types';

export const ORG_ID = '00000000-0000-4000-8000-0000000000a1';
export const USER_ID = '00000000-0000-4000-8000-0000000000b1';
export const AGENT_ID = '00000000-0000-4000-8000-0000000000c1';
export const TASK_ID = '00000000-0000-4000-8000-0000000000d1';

const NOW = '2026-01-15T10:00:00Z';

let counter = 0;
/** A fresh UUID-shaped id (deterministic within a run). */
export function uid(): string {
  counter += 1;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}

export const ALL_PERMISSIONS = [
  'agents:manage',
  'agents:read',
  'agents:write',
  'api_keys:manage',
  'api_keys:own',
  'audit:read',
  'members:manage',
  'members:read',
  'org:manage',
  'org:read',
  'providers:manage',
  'queues:read',
  'tasks:manage',
  'tasks:read',
  'tasks:read_all',
  'tasks:run',
  'tools:manage',
];

export const USER_PERMISSIONS = ['agents:read', 'agents:write', 'api_keys:own', 'members:read', 'org:read', 'tasks:read', 'tasks:run'];

export function makeMe(overrides: Partial<Me> = {}): Me {
  const organization = { id: ORG_ID, name: 'Acme', slug: 'acme', role: 'admin' };
  return {
    id: USER_ID,
    email: 'ada@example.com',
    display_name: 'Ada',
    email_verified: true,
    authenticated_via: 'cookie',
    organization,
    permissions: ALL_PERMISSIONS,
    organizations: [organization],
    ...overrides,
  };
}

export function makeAgentSummary(overrides: Partial<AgentSummary> = {}): AgentSummary {
  return {
    id: AGENT_ID,
    name: 'Support triage',
    description: 'Sorts incoming tickets.',
    visibility: 'org',
    owner_id: USER_ID,
    latest_version: 1,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

export function makeAgent(overrides: Partial<AgentOut> = {}): AgentOut {
  return {
    ...makeAgentSummary(),
    version_id: uid(),
    model: { provider: 'mock', name: 'echo', options: {}, fallbacks: [] },
    system_prompt: 'You help {{ customer }}.',
    prompt_template: null,
    input_schema: {
      type: 'object',
      properties: { customer: { type: 'string', title: 'Customer' }, message: { type: 'string' } },
      required: ['message'],
    },
    tools: [],
    policies: {},
    ...overrides,
  };
}

export function makeTask(overrides: Partial<TaskOut> = {}): TaskOut {
  return {
    id: TASK_ID,
    agent_id: AGENT_ID,
    agent_version_id: uid(),
    state: 'running',
    input: { message: 'hello' },
    output: null,
    error: null,
    priority: 0,
    attempt: 1,
    max_attempts: 3,
    run_at: NOW,
    created_at: NOW,
    started_at: NOW,
    finished_at: null,
    cancel_requested: false,
    created_by_id: USER_ID,
    request_id: null,
    traceparent: null,
    parent_task_id: null,
    ...overrides,
  };
}

/** A fresh installation as `make run` leaves it: no SMTP server, no provider key. */
export function makeSystemInfo(overrides: Partial<SystemInfo> = {}): SystemInfo {
  return {
    name: 'agentic',
    version: '0.1.0',
    environment: 'dev',
    database_backend: 'sqlite',
    redis_configured: false,
    needs_setup: false,
    mail_delivery: 'outbox',
    llm_providers: ['mock'],
    ...overrides,
  };
}

export function makeStep(overrides: Partial<StepOut> = {}): StepOut {
  return {
    step_key: 'llm-1',
    position: 1,
    kind: 'llm',
    name: 'mock:echo',
    status: 'succeeded',
    outcome: 'ok',
    attempt: 1,
    input: { messages: 2 },
    output: {
      content: 'hello',
      tool_calls: [],
      provider: 'mock',
      model: 'echo',
      finish_reason: 'stop',
      usage: { input_tokens: 12, output_tokens: 3 },
      cost_usd: 0.0012,
    },
    error: null,
    started_at: NOW,
    finished_at: '2026-01-15T10:00:01.250Z',
    ...overrides,
  };
}

export function makeEvent(seq: number, type: string, data: Record<string, unknown> = {}): EventOut {
  return { seq, type, attempt: 1, data, created_at: NOW };
}

export function makeApproval(overrides: Partial<ApprovalOut> = {}): ApprovalOut {
  return {
    id: uid(),
    task_id: TASK_ID,
    step_key: 'approval-1-1',
    tool: 'http_request',
    arguments: { method: 'DELETE', url: 'https://api.example.com/users/7' },
    reason: 'every call of http_request needs approval',
    status: 'pending',
    requested_at: NOW,
    expires_at: '2026-01-16T10:00:00Z',
    decided_at: null,
    decided_by_id: null,
    comment: null,
    ...overrides,
  };
}

export function makeApiKey(overrides: Partial<ApiKeyOut> = {}): ApiKeyOut {
  return {
    id: uid(),
    name: 'CI deploys',
    prefix: 'agk_ab12',
    scopes: ['tasks:run'],
    created_by_id: USER_ID,
    created_at: NOW,
    expires_at: null,
    last_used_at: null,
    revoked_at: null,
    rotated_from_id: null,
    ...overrides,
  };
}

/**
 * What `POST /v1/agents/render` answers, for tests: `{{ name }}` (and `{{ name | upper }}`) replaced from the
 * input; without a template the user message is the input's `message` or the input as JSON, as the API does.
 */
export function renderDraft(body: RenderDraftIn): RenderDraftOut {
  const input = body.input ?? {};
  const fill = (template: string) =>
    template.replace(/\{\{\s*(\w+)\s*(\|\s*upper\s*)?\}\}/g, (_match, name: string, upper?: string) => {
      const value = input[name] === undefined ? '' : String(input[name]);
      return upper ? value.toUpperCase() : value;
    });
  const systemPrompt = fill(body.system_prompt);
  const user = body.prompt_template ? fill(body.prompt_template) : typeof input.message === 'string' ? input.message : JSON.stringify(input);
  return {
    system_prompt: systemPrompt,
    messages: [...(systemPrompt ? [{ role: 'system', content: systemPrompt }] : []), { role: 'user', content: user }],
  };
}

/** The built-in tools as `GET /v1/tools` lists them (schemas as the registry declares them). */
export function makeTools(overrides: Partial<Record<string, Partial<ToolOut>>> = {}): ToolOut[] {
  const domains = {
    type: 'object',
    properties: {
      allowed_domains: {
        type: 'array',
        items: { type: 'string' },
        description: 'Only these hosts (`example.com`, or `*.example.com` for subdomains).',
      },
    },
    additionalProperties: false,
  };
  const tools: ToolOut[] = [
    {
      name: 'python',
      description: 'Run Python 3 code in an isolated sandbox without network access.',
      parameters: { type: 'object', properties: { code: { type: 'string' } }, required: ['code'] },
      config_schema: { type: 'object', properties: {}, additionalProperties: false },
      available: true,
      unavailable_reason: null,
    },
    {
      name: 'http_request',
      description: 'Make an HTTP request to a public URL.',
      parameters: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
      config_schema: domains,
      available: true,
      unavailable_reason: null,
    },
    {
      name: 'web_fetch',
      description: 'Fetch a public web page as text.',
      parameters: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
      config_schema: domains,
      available: true,
      unavailable_reason: null,
    },
    {
      name: 'web_search',
      description: 'Search the web.',
      parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
      config_schema: { type: 'object', properties: { max_results: { type: 'integer', minimum: 1, maximum: 20 } }, additionalProperties: false },
      available: false,
      unavailable_reason: 'No web search provider is configured (AGENTIC_SEARCH_PROVIDER).',
    },
    {
      name: 'sql_query',
      description: 'Run one read-only SQL query.',
      parameters: { type: 'object', properties: { sql: { type: 'string' } }, required: ['sql'] },
      config_schema: {
        type: 'object',
        properties: {
          connections: {
            type: 'array',
            items: { type: 'string' },
            minItems: 1,
            description: "Names of the organisation's SQL connections the agent may query.",
          },
        },
        required: ['connections'],
        additionalProperties: false,
      },
      available: true,
      unavailable_reason: null,
    },
  ];
  return tools.map((tool) => ({ ...tool, ...overrides[tool.name] }));
}

export function makeSchedule(overrides: Partial<ScheduleOut> = {}): ScheduleOut {
  return {
    id: uid(),
    agent_id: AGENT_ID,
    name: 'Morning digest',
    cron: '0 9 * * 1-5',
    timezone: 'Europe/Paris',
    input: { message: 'Summarise the night' },
    priority: 0,
    enabled: true,
    next_run_at: '2026-01-16T08:00:00Z',
    last_run_at: null,
    last_task_id: null,
    last_error: null,
    created_by_id: USER_ID,
    created_at: NOW,
    ...overrides,
  };
}
