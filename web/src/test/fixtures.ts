/** Factories for API objects in tests: valid by default, overridable field by field. */
import type {
  AgentOut,
  AgentSummary,
  ApiKeyOut,
  ApprovalOut,
  EventOut,
  Me,
  StepOut,
  TaskOut,
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

export function makeStep(overrides: Partial<StepOut> = {}): StepOut {
  return {
    step_key: 'llm-1',
    position: 1,
    kind: 'llm',
    name: 'mock:echo',
    status: 'succeeded',
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
