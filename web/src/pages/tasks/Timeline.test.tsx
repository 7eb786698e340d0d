import { describe, expect, it } from 'vitest';
import { toolResult } from './Timeline';

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
