import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { RenderDraftIn } from '../../api/types';
import { AGENT_ID, USER_PERMISSIONS, makeAgent, makeMe, makeSystemInfo, renderDraft } from '../../test/fixtures';
import { apiError } from '../../test/handlers';
import { fill, renderApp } from '../../test/render';
import { server } from '../../test/server';

/** This server has an OpenAI key: new agents start on OpenAI. */
const openaiConfigured = http.get('*/v1/system/info', () => HttpResponse.json(makeSystemInfo({ llm_providers: ['mock', 'openai'] })));

describe('the provider a new agent starts on', () => {
  const primary = () => screen.getByRole('group', { name: 'Primary model' });
  const chooseProvider = async (user: ReturnType<typeof renderApp>['user'], label: RegExp) => {
    await user.click(within(primary()).getByRole('combobox', { name: /^provider/i }));
    await user.click(await screen.findByRole('option', { name: label }));
  };

  it('is the offline mock when the server has no provider key; OpenAI then gets a model and a warning', async () => {
    const { user } = renderApp('/agents/new');
    await screen.findByRole('form', { name: 'Create agent' });
    expect(within(primary()).getByRole('combobox', { name: /^provider/i })).toHaveTextContent('Mock (offline, for tests)');
    expect(within(primary()).getByRole('combobox', { name: /^model/i })).toHaveTextContent('echo');
    expect(screen.queryByRole('status', { name: /provider not configured/ })).not.toBeInTheDocument();

    // Choosing a provider without a key: never an empty model, and a warning in the editor before saving.
    await chooseProvider(user, /^OpenAI/);
    expect(within(primary()).getByRole('textbox', { name: /^model/i })).toHaveValue('gpt-4o-mini');
    const warning = await screen.findByRole('status', { name: 'Primary model: provider not configured' });
    expect(warning).toHaveTextContent('Neither this server nor your organisation has an OpenAI key');
    expect(warning).toHaveTextContent('provider_not_configured');

    await chooseProvider(user, /^Anthropic/);
    expect(within(primary()).getByRole('textbox', { name: /^model/i })).toHaveValue('claude-sonnet-4-5');
    expect(screen.getByRole('status', { name: 'Primary model: provider not configured' })).toHaveTextContent('Anthropic key');

    // A fallback on a provider without a key is warned about too.
    await user.click(screen.getByRole('button', { name: /add fallback/i }));
    expect(await screen.findByRole('status', { name: 'Fallback 1: provider not configured' })).toBeInTheDocument();
    await chooseProvider(user, /^Mock/);
    expect(screen.queryByRole('status', { name: 'Primary model: provider not configured' })).not.toBeInTheDocument();
  });

  it('is OpenAI, without a warning, when the organisation has a default OpenAI credential', async () => {
    server.use(
      http.get('*/v1/provider-credentials', () =>
        HttpResponse.json([
          { id: AGENT_ID, provider: 'openai', name: 'default', key_hint: '…abcd', base_url: null, created_by_id: null, created_at: '2026-01-15T10:00:00Z' },
        ]),
      ),
    );
    renderApp('/agents/new');
    await screen.findByRole('form', { name: 'Create agent' });
    expect(within(primary()).getByRole('combobox', { name: /^provider/i })).toHaveTextContent('OpenAI');
    expect(within(primary()).getByRole('textbox', { name: /^model/i })).toHaveValue('gpt-4o-mini');
    expect(screen.queryByRole('status', { name: /provider not configured/ })).not.toBeInTheDocument();
  });

  it('warns a member who cannot see the organisation’s credentials that runs need one', async () => {
    let listed = 0;
    server.use(
      http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS }))),
      http.get('*/v1/provider-credentials', () => {
        listed += 1;
        return HttpResponse.json([]);
      }),
    );
    const { user } = renderApp('/agents/new');
    await screen.findByRole('form', { name: 'Create agent' });
    await chooseProvider(user, /^OpenAI/);
    expect(await screen.findByRole('status', { name: 'Primary model: provider not configured' })).toHaveTextContent(
      'unless your organisation has a default OpenAI credential',
    );
    expect(listed).toBe(0); // admins only: not asked
  });
});

describe('creating an agent', () => {
  it('checks the form first, then maps the API’s validation errors onto the fields', async () => {
    const bodies: unknown[] = [];
    server.use(
      openaiConfigured,
      http.post('*/v1/agents', async ({ request }) => {
        bodies.push(await request.json());
        return apiError(422, 'validation_error', 'The request is invalid; see details.', [
          { loc: ['body', 'model', 'name'], message: 'unknown model' },
          { loc: ['body', 'system_prompt'], message: 'undeclared variables: customer' },
        ]);
      }),
    );
    const { user } = renderApp('/agents/new');

    await user.clear(await screen.findByRole('textbox', { name: /^model/i }));
    await user.click(screen.getByRole('button', { name: 'Create agent' }));
    expect(bodies).toHaveLength(0);
    const summary = screen.getByRole('alert');
    expect(within(summary).getByRole('link', { name: 'name' })).toBeInTheDocument();
    expect(within(summary).getByRole('link', { name: 'Model name' })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByLabelText(/^name/i)).toHaveFocus());

    await fill(user, screen.getByLabelText(/^name/i), 'Triage');
    await fill(user, screen.getByRole('textbox', { name: /^model/i }), 'gpt-x');
    await fill(user, screen.getByLabelText(/^system prompt/i), 'Help {{ customer }}');
    // The scan of the template warns before the API refuses it.
    expect(screen.getByText(/which is not declared/i)).toHaveTextContent('“customer”');
    await user.click(screen.getByRole('button', { name: 'Create agent' }));

    await waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toMatchObject({ name: 'Triage', model: { provider: 'openai', name: 'gpt-x', fallbacks: [] }, system_prompt: 'Help {{ customer }}' });
    const model = screen.getByRole('textbox', { name: /^model/i });
    await waitFor(() => expect(model).toHaveAttribute('aria-invalid', 'true'));
    expect(model).toHaveAccessibleDescription('unknown model');
    expect(screen.getByLabelText(/^system prompt/i)).toHaveAccessibleDescription('undeclared variables: customer');
    expect(screen.getByRole('alert')).toHaveTextContent('The request is invalid; see details.');
  });

  it('creates the agent with a fallback and a gated tool, then opens it', async () => {
    let created: Record<string, unknown> | undefined;
    server.use(
      openaiConfigured,
      http.post('*/v1/agents', async ({ request }) => {
        created = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(makeAgent({ name: 'Ops bot' }), { status: 201 });
      }),
      http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent({ name: 'Ops bot' }))),
    );
    const { user, router } = renderApp('/agents/new');

    await fill(user, await screen.findByLabelText(/^name/i), 'Ops bot');
    await fill(user, screen.getByRole('textbox', { name: /^model/i }), 'gpt-4o');
    await user.click(screen.getByRole('button', { name: /add fallback/i }));
    const fallback = screen.getByRole('group', { name: 'Fallback 1' });
    await fill(user, within(fallback).getByRole('textbox', { name: /^model/i }), 'gpt-4o-mini');
    await user.click(screen.getByRole('button', { name: 'Add tool' }));
    await user.click(await screen.findByRole('menuitem', { name: /http request/i }));
    const tool = screen.getByRole('group', { name: 'Tool http_request' });
    await user.click(within(tool).getByRole('switch', { name: /approval/i }));
    await fill(user, screen.getByLabelText(/^max steps/i), '4');
    await user.click(screen.getByRole('button', { name: 'Create agent' }));

    await waitFor(() => expect(router.state.location.pathname).toBe(`/agents/${AGENT_ID}`));
    expect(created).toMatchObject({
      name: 'Ops bot',
      model: { provider: 'openai', name: 'gpt-4o', fallbacks: [{ provider: 'openai', name: 'gpt-4o-mini', options: {} }] },
      tools: [{ name: 'http_request', needs_approval: true, config: {}, approval_rules: [], min_role: null }],
      policies: { max_steps: 4 },
      input_schema: { type: 'object', properties: { message: { type: 'string', description: 'What the user asks.' } }, required: ['message'] },
    });
    expect(await screen.findByRole('heading', { name: 'Ops bot', level: 1 })).toBeInTheDocument();
  });

  it('tells a member without agents:write that they cannot create agents', async () => {
    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: ['agents:read'] }))));
    renderApp('/agents/new');
    expect(await screen.findByText(/does not allow you to create agents/i)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Create agent' })).not.toBeInTheDocument();
  });
});

describe('editing an agent', () => {
  it('previews the form as it is (not the saved version) for a sample input, and saves a new version', async () => {
    const renders: RenderDraftIn[] = [];
    let patch: unknown;
    server.use(
      http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent())),
      http.post('*/v1/agents/render', async ({ request }) => {
        const body = (await request.json()) as RenderDraftIn;
        renders.push(body);
        return HttpResponse.json(renderDraft(body));
      }),
      http.patch(`*/v1/agents/${AGENT_ID}`, async ({ request }) => {
        patch = await request.json();
        return HttpResponse.json(makeAgent({ latest_version: 2, system_prompt: 'You assist {{ customer }}.' }));
      }),
      http.get(`*/v1/agents/${AGENT_ID}/versions`, () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}/edit`);

    const preview = await screen.findByRole('region', { name: 'Prompt preview' });
    // The sample starts from the schema (each string variable gets a placeholder value).
    expect(await within(preview).findByText('You help example customer.', { selector: 'pre' })).toBeInTheDocument();
    expect(renders[0]).toMatchObject({ system_prompt: 'You help {{ customer }}.', prompt_template: null, input: { customer: 'example customer' } });
    const message = within(preview).getByRole('textbox', { name: /message/i });
    await fill(user, message, 'Where is my parcel?');
    expect(await within(preview).findByText('Where is my parcel?', { selector: 'pre' })).toBeInTheDocument();

    // An unsaved change to a template shows at once (after the typing pause), from the form's state.
    await fill(user, screen.getByLabelText(/^system prompt/i), 'You assist {{ customer }}.');
    expect(await within(preview).findByText('You assist example customer.', { selector: 'pre' })).toBeInTheDocument();
    expect(renders.at(-1)).toMatchObject({ system_prompt: 'You assist {{ customer }}.', input: { message: 'Where is my parcel?' } });
    expect(within(preview).getByRole('status')).toHaveTextContent('The preview is up to date.');
    await user.click(screen.getByRole('button', { name: 'Save changes' }));

    expect(await screen.findByText('Saved as version 2.')).toBeInTheDocument();
    expect(patch).toMatchObject({ name: 'Support triage', system_prompt: 'You assist {{ customer }}.', model: { provider: 'mock', name: 'echo' } });
  });

  it('shows a member without write access that editing is not allowed', async () => {
    server.use(http.get('*/v1/me', () => HttpResponse.json(makeMe({ permissions: USER_PERMISSIONS.filter((p) => p !== 'agents:write') }))));
    renderApp(`/agents/${AGENT_ID}/edit`);
    expect(await screen.findByText(/does not allow you to edit agents/i)).toBeInTheDocument();
  });
});
