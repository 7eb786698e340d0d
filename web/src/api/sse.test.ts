import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('assembles messages across chunk boundaries and line-ending styles', () => {
    const parser = new SseParser();
    expect(parser.feed('id: 1\nevent: step.started\nda')).toEqual([]);
    expect(parser.feed('ta: {"a":1}\n\nid: 2\r')).toEqual([{ id: '1', event: 'step.started', data: '{"a":1}' }]);
    expect(parser.feed('\ndata: x\r\n\r\n')).toEqual([{ id: '2', event: 'message', data: 'x' }]);
  });

  it('skips comments (keep-alives), joins multi-line data and keeps the last id', () => {
    const parser = new SseParser();
    expect(parser.feed(': keep-alive\n\ndata: one\ndata: two\n\nid: 7\n\n')).toEqual([{ id: null, event: 'message', data: 'one\ntwo' }]);
    expect(parser.feed('data:no-space\n\n')).toEqual([{ id: '7', event: 'message', data: 'no-space' }]);
  });
});
