import { describe, expect, it } from 'vitest';
import { makeTools } from '../../../test/fixtures';
import { emptyDraft, emptyTarget, emptyTool, toAgentBody } from './draft';
import { configFields, configProblems, displayText, fieldValue, jsonOnlyReason, parseConfig, toolLabel } from './toolCatalog';

const schemaOf = (name: string) => makeTools().find((tool) => tool.name === name)!.config_schema;

describe('config schemas as fields', () => {
  it('lays out lists of names, connections, numbers, switches and choices; anything richer needs JSON', () => {
    expect(configFields(schemaOf('http_request'))).toEqual([
      expect.objectContaining({ name: 'allowed_domains', kind: 'strings', label: 'Allowed domains', required: false }),
    ]);
    expect(configFields(schemaOf('sql_query'))).toEqual([expect.objectContaining({ name: 'connections', kind: 'connections', required: true, minItems: 1 })]);
    expect(configFields(schemaOf('web_search'))).toEqual([
      expect.objectContaining({ name: 'max_results', kind: 'integer', label: 'Maximum results', minimum: 1, maximum: 20 }),
    ]);
    expect(configFields(schemaOf('python'))).toEqual([]);
    expect(
      configFields({ type: 'object', properties: { verbose: { type: 'boolean', title: 'Talk more' }, mode: { type: 'string', enum: ['a', 'b'] } } }),
    ).toEqual([expect.objectContaining({ kind: 'boolean', label: 'Talk more' }), expect.objectContaining({ kind: 'choice', options: ['a', 'b'] })]);
    expect(configFields({ type: 'object', properties: { headers: { type: 'object' } } })).toBeNull();
    expect(configFields({ type: 'object', properties: { ids: { type: 'array', items: { type: 'integer' } } } })).toBeNull();
  });

  it('converts between typed text and config values, keeping the text while it means the same', () => {
    const [domains] = configFields(schemaOf('http_request'))!;
    const [max] = configFields(schemaOf('web_search'))!;
    expect(fieldValue(domains!, ' a.com \n\n*.b.org\n')).toEqual(['a.com', '*.b.org']);
    expect(fieldValue(domains!, '  ')).toBeUndefined();
    expect(displayText(domains!, ['a.com'], 'a.com\n')).toBe('a.com\n');
    expect(displayText(domains!, ['a.com', 'c.net'], 'a.com\n')).toBe('a.com\nc.net'); // changed elsewhere (JSON)
    expect(fieldValue(max!, '7')).toBe(7);
    expect(fieldValue(max!, 'seven')).toBe('seven'); // kept for the check to report
    expect(fieldValue(max!, '')).toBeUndefined();
    expect(parseConfig('')).toEqual({});
    expect(parseConfig('[1]')).toBeNull();
  });

  it('says when the JSON editor is needed', () => {
    const fields = configFields(schemaOf('http_request'));
    expect(jsonOnlyReason(fields, { allowed_domains: [] })).toBeNull();
    expect(jsonOnlyReason(fields, null)).toMatch(/not a JSON object/);
    expect(jsonOnlyReason(fields, { proxy: 1 })).toMatch(/does not know \(proxy\)/);
    expect(jsonOnlyReason(null, {})).toMatch(/edited as JSON/);
  });

  it('checks a config against its schema', () => {
    expect(configProblems(schemaOf('sql_query'), {})).toEqual({ connections: 'Choose at least one connection.' });
    expect(configProblems(schemaOf('sql_query'), { connections: [] })).toEqual({ connections: 'Choose at least 1 connection.' });
    expect(configProblems(schemaOf('web_search'), { max_results: 2.5 })).toEqual({ max_results: 'Enter a whole number.' });
    expect(configProblems(schemaOf('web_search'), { max_results: 'x' })).toEqual({ max_results: 'Enter a number.' });
    expect(configProblems(schemaOf('python'), { timeout: 3 })).toEqual({ '': 'This tool takes no configuration: leave it empty.' });
    expect(configProblems(schemaOf('http_request'), { allowed_domains: 'a.com' })).toEqual({ allowed_domains: 'Must be a list of names.' });
    expect(configProblems(schemaOf('http_request'), { allowed_domains: ['a.com'] })).toEqual({});
  });

  it('names the built-in tools kindly and anything else by its name', () => {
    expect(toolLabel('web_fetch')).toBe('Fetch web page');
    expect(toolLabel('mcp:github')).toBe('MCP server “github”');
    expect(toolLabel('future_tool')).toBe('future_tool');
  });
});

describe('toAgentBody with the tool catalogue', () => {
  it('reports config problems under the setting’s path, and skips the check without a catalogue', () => {
    const draft = emptyDraft();
    draft.name = 'Agent';
    draft.model = { ...emptyTarget('openai'), name: 'gpt-4o' };
    draft.tools = [emptyTool('sql_query'), { ...emptyTool('web_search'), config: '{"max_results": 99}' }, { ...emptyTool('mcp:github'), config: '{"tools": ["x"]}' }];

    expect(toAgentBody(draft, makeTools()).errors).toEqual({
      'tools.0.config.connections': 'Choose at least one connection.',
      'tools.1.config.max_results': 'Must be at most 20.',
    });
    expect(toAgentBody(draft).errors).toEqual({});
  });
});
