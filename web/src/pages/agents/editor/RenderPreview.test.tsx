import { act, screen, waitFor, within } from '@testing-library/react';
import { delay, http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { RenderDraftIn } from '../../../api/types';
import { AGENT_ID, makeAgent, renderDraft } from '../../../test/fixtures';
import { apiError } from '../../../test/handlers';
import { fill, renderApp } from '../../../test/render';
import { server } from '../../../test/server';

const agentHandler = http.get(`*/v1/agents/${AGENT_ID}`, () => HttpResponse.json(makeAgent()));

describe('the live prompt preview', () => {
  it('waits for typing to pause, sends one request per pause, and aborts a request made stale', async () => {
    const sent: string[] = [];
    const aborted: string[] = [];
    server.use(
      http.post('*/v1/agents/render', async ({ request }) => {
        const body = (await request.json()) as RenderDraftIn;
        sent.push(body.system_prompt);
        if (body.system_prompt === 'slow') {
          request.signal.addEventListener('abort', () => aborted.push(body.system_prompt));
          await delay(3000);
        }
        return HttpResponse.json(renderDraft(body));
      }),
    );
    const { user } = renderApp('/agents/new');
    const preview = await screen.findByRole('region', { name: 'Prompt preview' });
    // A new agent previews too: its one variable, `message`, gets a sample value.
    expect(await within(preview).findByText('example message', { selector: 'pre' })).toBeInTheDocument();

    const systemPrompt = screen.getByLabelText(/^system prompt/i);
    await fill(user, systemPrompt, 'a');
    await fill(user, systemPrompt, 'ab');
    await fill(user, systemPrompt, 'abc');
    expect(await within(preview).findByText('abc', { selector: 'pre' })).toBeInTheDocument();
    expect(sent.filter((prompt) => prompt.startsWith('a'))).toEqual(['abc']);

    await fill(user, systemPrompt, 'slow');
    await waitFor(() => expect(sent).toContain('slow'));
    expect(within(preview).getByRole('status')).toHaveTextContent('Updating the preview…');
    expect(within(preview).getByRole('progressbar', { name: 'Rendering the preview' })).toBeInTheDocument();
    await fill(user, systemPrompt, 'fast');
    expect(await within(preview).findByText('fast', { selector: 'pre' })).toBeInTheDocument();
    await waitFor(() => expect(aborted).toEqual(['slow']));
    expect(within(preview).getByRole('status')).toHaveTextContent('The preview is up to date.');
  });

  it('shows the API’s template and input errors under the fields they concern, with links from the preview', async () => {
    server.use(
      agentHandler,
      http.post('*/v1/agents/render', async ({ request }) => {
        const body = (await request.json()) as RenderDraftIn;
        if (body.prompt_template?.includes('missing')) {
          return apiError(422, 'template_invalid', 'The prompt_template uses undeclared variables.', [
            { loc: ['body', 'prompt_template'], message: 'undeclared variables: missing', type: 'template_undeclared_variable' },
          ]);
        }
        if (body.input?.customer === 'Bob') {
          return apiError(422, 'invalid_input', 'The input does not match the schema.', [
            { loc: ['body', 'input', 'customer'], message: 'must have at least 4 characters', type: 'input' },
          ]);
        }
        return HttpResponse.json(renderDraft(body));
      }),
    );
    const { user } = renderApp(`/agents/${AGENT_ID}/edit`);
    const preview = await screen.findByRole('region', { name: 'Prompt preview' });
    expect(await within(preview).findByText('You help example customer.', { selector: 'pre' })).toBeInTheDocument();

    const template = screen.getByLabelText(/^first user message template/i);
    await fill(user, template, 'About {{ missing }}');
    await waitFor(() => expect(template).toHaveAccessibleDescription('undeclared variables: missing'));
    expect(template).toHaveAttribute('aria-invalid', 'true');
    expect(within(preview).getByRole('status')).toHaveTextContent('The preview could not be rendered: The prompt_template uses undeclared variables.');
    // No stale output next to the error; a link moves focus to the field.
    expect(within(preview).queryByText('You help example customer.', { selector: 'pre' })).not.toBeInTheDocument();
    act(() => template.blur());
    await user.click(within(preview).getByRole('link', { name: 'First user message template' }));
    expect(template).toHaveFocus();

    await fill(user, template, 'About {{ customer }}');
    expect(await within(preview).findByText('About example customer', { selector: 'pre' })).toBeInTheDocument();
    expect(template).not.toHaveAttribute('aria-invalid', 'true');

    const customer = within(preview).getByRole('textbox', { name: 'Customer' });
    await fill(user, customer, 'Bob');
    await waitFor(() => expect(customer).toHaveAccessibleDescription('must have at least 4 characters'));
    expect(within(preview).getByRole('link', { name: 'Sample customer' })).toBeInTheDocument();
    expect(template).not.toHaveAttribute('aria-invalid', 'true');
  });

  it('generates the sample from the declared variables, keeps what was typed, and checks it before sending', async () => {
    const sent: RenderDraftIn[] = [];
    server.use(
      http.post('*/v1/agents/render', async ({ request }) => {
        const body = (await request.json()) as RenderDraftIn;
        sent.push(body);
        return HttpResponse.json(renderDraft(body));
      }),
    );
    const { user } = renderApp('/agents/new');
    const preview = await screen.findByRole('region', { name: 'Prompt preview' });
    const message = await within(preview).findByRole('textbox', { name: /^message/i });
    await fill(user, message, 'Hi there');

    await user.click(screen.getByRole('button', { name: 'Add variable' }));
    await fill(user, screen.getAllByRole('textbox', { name: /^variable name/i })[1]!, 'count');
    expect(await within(preview).findByRole('textbox', { name: /^count/i })).toHaveValue('example count');
    await user.click(screen.getAllByRole('combobox', { name: /^variable type/i })[1]!);
    await user.click(await screen.findByRole('option', { name: 'integer' }));
    const count = await within(preview).findByRole('textbox', { name: /^count/i });
    expect(count).toHaveValue('1');
    expect(within(preview).getByRole('textbox', { name: /^message/i })).toHaveValue('Hi there');
    await waitFor(() => expect(sent.at(-1)).toMatchObject({ input: { message: 'Hi there', count: 1 } }));
    expect(sent.at(-1)?.input_schema).toMatchObject({ properties: { count: { type: 'integer' } } });

    // A sample the form knows is wrong is not sent.
    const before = sent.length;
    await fill(user, count, 'lots');
    expect(count).toHaveAccessibleDescription('Enter a number.');
    expect(within(preview).getByRole('status')).toHaveTextContent('Fix the sample input to update the preview.');
    await act(() => new Promise((resolve) => setTimeout(resolve, 500)));
    expect(sent).toHaveLength(before);

    await user.click(within(preview).getByRole('button', { name: 'Reset sample' }));
    expect(within(preview).getByRole('textbox', { name: /^count/i })).toHaveValue('1');
    expect(within(preview).getByRole('textbox', { name: /^message/i })).toHaveValue('example message');
    expect(await within(preview).findByText('example message', { selector: 'pre' })).toBeInTheDocument();
  });

  it('offers to try again when the server cannot be reached', async () => {
    let fail = true;
    server.use(
      http.post('*/v1/agents/render', async ({ request }) => {
        const body = (await request.json()) as RenderDraftIn;
        return fail ? HttpResponse.error() : HttpResponse.json(renderDraft(body));
      }),
    );
    const { user } = renderApp('/agents/new');
    const preview = await screen.findByRole('region', { name: 'Prompt preview' });
    const problem = await within(preview).findByRole('alert');
    expect(problem).toHaveTextContent('The preview could not be rendered');
    fail = false;
    await user.click(within(problem).getByRole('button', { name: 'Try again' }));
    expect(await within(preview).findByText('example message', { selector: 'pre' })).toBeInTheDocument();
  });
});
