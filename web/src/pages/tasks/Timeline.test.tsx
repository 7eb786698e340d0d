import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeStep } from '../../test/fixtures';
import { renderWithProviders } from '../../test/render';
import { Timeline, toolResult } from './Timeline';

describe('toolResult', () => {
  it('drops the model-facing copy of the result', () => {
    const result = { status: 200, body: 'hi' };
    expect(toolResult({ ...result, content: JSON.stringify(result) })).toEqual({ result, omittedChars: null });
  });

  it('says how much the model did not see when the copy was cut to the size limit', () => {
    const output = { body: 'x'.repeat(50), content: '{"body": "xxxx… [truncated: 1234 more characters]' };
    expect(toolResult(output)).toEqual({ result: { body: 'x'.repeat(50) }, omittedChars: 1234 });
  });

  it('leaves other outputs alone', () => {
    expect(toolResult(['a'])).toEqual({ result: ['a'], omittedChars: null });
    expect(toolResult({ rows: [] })).toEqual({ result: { rows: [] }, omittedChars: null });
  });
});

describe('Timeline', () => {
  const refused = { code: 'ssrf_refused', message: '169.254.169.254 is a link-local address: refused.' };
  const llm = makeStep();
  // As the API gives it: checkpointed as succeeded (a replay must not run the call again), outcome error.
  const tool = makeStep({
    step_key: 'tool-1-1',
    position: 2,
    kind: 'tool',
    name: 'http_request',
    status: 'succeeded',
    outcome: 'error',
    input: { arguments: { url: 'http://169.254.169.254/x' } },
    output: { error: refused, content: JSON.stringify({ error: refused }) },
    error: refused,
  });

  const stepItem = (name: RegExp) =>
    within(screen.getByRole('list', { name: 'Steps' }))
      .getAllByRole('listitem')
      .find((item) => within(item).queryByRole('button', { name }))!;

  it('shows a tool call whose result is an error as failed, open, with the error — not as succeeded', () => {
    renderWithProviders(<Timeline steps={[llm, tool]} tokens={{}} />);
    const item = stepItem(/^2\. Tool/);
    expect(within(item).getByRole('button', { name: /^2\. Tool/ })).toHaveAttribute('aria-expanded', 'true');
    expect(within(item).getByText('failed')).toBeInTheDocument();
    expect(within(item).queryByText('succeeded')).not.toBeInTheDocument();
    const error = within(item).getByRole('group', { name: 'Error of http_request' });
    expect(error).toHaveTextContent('ssrf_refused: 169.254.169.254 is a link-local address: refused.');
    // Said once: the result holds nothing but the error.
    expect(within(item).queryByLabelText('Result of http_request')).not.toBeInTheDocument();
    // The LLM step that went well still reads so.
    expect(within(stepItem(/^1\. LLM call/)).getByText('succeeded')).toBeInTheDocument();
  });

  it('shows a tool call that worked as succeeded, with its result', () => {
    const ok = makeStep({ ...tool, outcome: 'ok', error: null, output: { status: 200, body: 'hi', content: '{}' } });
    renderWithProviders(<Timeline steps={[ok]} tokens={{}} />);
    const item = stepItem(/^2\. Tool/);
    expect(within(item).getByText('succeeded')).toBeInTheDocument();
    expect(within(item).queryByRole('group', { name: 'Error of http_request' })).not.toBeInTheDocument();
  });
});
