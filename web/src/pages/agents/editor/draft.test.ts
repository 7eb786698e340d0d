import { describe, expect, it } from 'vitest';
import { makeAgent } from '../../../test/fixtures';
import { draftFromAgent, emptyDraft, emptyTarget, emptyTool, templateVariables, toAgentBody, undeclaredVariables, variablesFromSchema } from './draft';

describe('toAgentBody', () => {
  it('reports every problem under the API’s field paths', () => {
    const draft = emptyDraft();
    draft.model = { ...emptyTarget('openai'), name: '', temperature: '3' };
    draft.fallbacks = [{ ...emptyTarget('mock'), name: 'nope' }];
    draft.tools = [{ ...emptyTool('http_request'), config: '[1]', rules: [{ key: 'r', text: 'method' }] }];
    draft.policies.max_steps = '2.5';
    draft.policies.backoff_base_s = '10';
    draft.policies.backoff_max_s = '5';

    const { body, errors } = toAgentBody(draft);

    expect(body).toBeNull();
    expect(errors).toEqual({
      name: 'Give the agent a name.',
      'model.name': 'Enter the model name.',
      'model.options.temperature': 'Must be at most 2.',
      'model.fallbacks.0.name': 'The mock provider has the models echo, fixed, scripted, match.',
      'tools.0.config': 'Enter a JSON object ({…}).',
      'tools.0.approval_rules.0.arguments': 'Write each line as argument=pattern (“method” is not).',
      'policies.max_steps': 'Enter a whole number.',
      'policies.backoff_max_s': 'Must not be below the base backoff.',
    });
  });

  it('builds the API body: options typed, unset policies left out, variables as a JSON Schema', () => {
    const draft = emptyDraft();
    draft.name = '  Triage ';
    draft.model = { ...emptyTarget('openai'), name: 'gpt-4o', temperature: '0.2', extra: '{"seed": 7}' };
    draft.fallbacks = [{ ...emptyTarget('anthropic'), name: 'claude' }];
    draft.system_prompt = 'Help {{ customer }}.';
    draft.variables = [
      { key: 'a', name: 'customer', type: 'string', description: 'Who', required: true },
      { key: 'b', name: 'urgent', type: 'boolean', description: '', required: false },
    ];
    draft.tools = [{ ...emptyTool('http_request'), needs_approval: false, min_role: 'operator', config: '{"allowed_domains": ["x.com"]}', rules: [{ key: 'r', text: 'method=DELETE\nurl = https://x.com/*' }] }];
    draft.policies.max_steps = '5';
    draft.policies.tool_allowlist = ['http_request'];
    draft.policies.retryable_errors = 'rate_limited, timeout';

    const { body, errors } = toAgentBody(draft);

    expect(errors).toEqual({});
    expect(body).toEqual({
      name: 'Triage',
      description: '',
      visibility: 'org',
      model: {
        provider: 'openai',
        name: 'gpt-4o',
        options: { seed: 7, temperature: 0.2 },
        fallbacks: [{ provider: 'anthropic', name: 'claude', options: {} }],
      },
      system_prompt: 'Help {{ customer }}.',
      prompt_template: null,
      input_schema: {
        type: 'object',
        properties: { customer: { type: 'string', description: 'Who' }, urgent: { type: 'boolean' } },
        required: ['customer'],
      },
      tools: [
        {
          name: 'http_request',
          config: { allowed_domains: ['x.com'] },
          needs_approval: false,
          approval_rules: [{ arguments: { method: 'DELETE', url: 'https://x.com/*' } }],
          min_role: 'operator',
        },
      ],
      policies: { max_steps: 5, tool_allowlist: ['http_request'], retryable_errors: ['rate_limited', 'timeout'] },
    });
  });
});

describe('draftFromAgent', () => {
  it('round-trips an agent through the form', () => {
    const agent = makeAgent({
      model: { provider: 'mock', name: 'scripted', options: { script: [{ text: 'hi' }], temperature: 1 }, fallbacks: [{ provider: 'openai', name: 'gpt-4o', options: {} }] },
      tools: [{ name: 'python', config: {}, needs_approval: true, approval_rules: [], min_role: null }],
      policies: { max_steps: 4, on_limit: 'reject' },
      input_schema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
    });
    const { body } = toAgentBody(draftFromAgent(agent));
    expect(body?.model).toEqual(agent.model);
    expect(body?.tools).toEqual(agent.tools);
    expect(body?.policies).toEqual(agent.policies);
    expect(body?.input_schema).toEqual(agent.input_schema);
  });

  it('keeps the credential a model names (and sends none when it names none)', () => {
    const agent = makeAgent({
      model: {
        provider: 'openai',
        name: 'llama-3',
        options: {},
        credential: 'lab-server',
        fallbacks: [{ provider: 'openai', name: 'gpt-4o', options: {} }],
      },
    });
    const draft = draftFromAgent(agent);
    expect(draft.model.credential).toBe('lab-server');
    const { body } = toAgentBody({ ...draft, name: 'Lab' });
    expect(body?.model).toEqual(agent.model);
    expect(body?.model.fallbacks?.[0]).not.toHaveProperty('credential');
  });

  it('keeps a schema the variable editor cannot show as JSON', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1 } } };
    expect(variablesFromSchema(schema)).toBeNull();
    const draft = draftFromAgent(makeAgent({ input_schema: schema }));
    expect(draft.schemaMode).toBe('json');
    expect(toAgentBody({ ...draft, model: { ...draft.model } }).body?.input_schema).toEqual(schema);
  });
});

describe('templateVariables', () => {
  it('finds the variables a template reads, not filters, attributes, literals or loop variables', () => {
    expect(
      templateVariables(
        "Hi {{ customer | upper }} {{ order.id }} {% if urgent %}now{% endif %} {% for item in items %}{{ item }} {{ loop.index }}{% endfor %} {{ 'lit' }} {{ x is defined }}",
      ),
    ).toEqual(['customer', 'items', 'order', 'urgent', 'x']);
  });

  it('lists template variables missing from the declared ones', () => {
    const draft = emptyDraft();
    draft.system_prompt = 'For {{ customer }} about {{ message }}';
    expect(undeclaredVariables(draft)).toEqual(['customer']);
  });
});
