/**
 * A task's live event stream: `GET /v1/tasks/{id}/events` with `Accept: text/event-stream`.
 *
 * Read with `fetch` rather than `EventSource` so that the request goes through `authFetch` (an expired
 * session is refreshed, the organisation header is sent) and HTTP errors are seen with their status and
 * error envelope. Resuming sends `Last-Event-ID`, as the API documents; the server then replays every event
 * after it and follows new ones until the task finishes, when it closes the stream.
 */
import { ApiError, toApiError } from './errors';
import { authFetch } from './http';
import type { EventOut } from './types';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental `text/event-stream` parser (WHATWG HTML §9.2): feed text chunks, get whole messages. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;

  feed(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const messages: SseMessage[] = [];
    // Lines end in \r\n, \n or \r; a trailing \r may be the first half of \r\n, so keep it for the next chunk.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (this.data.length > 0) messages.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return messages;
  }
}

export interface ReadStreamOptions {
  taskId: string;
  /** The last event sequence number already seen (0: from the start). */
  lastEventId: number;
  signal: AbortSignal;
  onOpen?: () => void;
  onEvent: (event: EventOut) => void;
}

/**
 * Reads the stream until the server closes it (resolves) or it fails (rejects with `ApiError` for an HTTP
 * error, or the network error). Abort with `signal`.
 */
export async function readTaskEvents({ taskId, lastEventId, signal, onOpen, onEvent }: ReadStreamOptions): Promise<void> {
  const headers = new Headers({ Accept: 'text/event-stream' });
  if (lastEventId > 0) headers.set('Last-Event-ID', String(lastEventId));
  const url = `${window.location.origin}/v1/tasks/${encodeURIComponent(taskId)}/events`;
  const response = await authFetch(new Request(url, { headers, signal, cache: 'no-store' }));
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: toApiError falls back to the status
    }
    throw toApiError(response.status, body);
  }
  if (!response.body) throw new ApiError(response.status, 'invalid_response', 'The server sent no event stream.');
  onOpen?.();
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const message of parser.feed(value)) {
        let event: EventOut;
        try {
          event = JSON.parse(message.data) as EventOut;
        } catch {
          continue; // not one of ours; skip it rather than break the stream
        }
        onEvent(event);
      }
    }
  } finally {
    reader.releaseLock();
  }
}
