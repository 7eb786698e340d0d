/** Server-Sent Events responses for MSW handlers. */
import { HttpResponse } from 'msw';
import type { EventOut } from '../api/types';

const encoder = new TextEncoder();

export const sseFrame = (event: EventOut) => `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/**
 * An event stream: each item is sent in turn (a number waits that many ms, a function runs — e.g. to
 * change what other handlers answer from then on). `end`: close normally (the
 * task finished), `error`: fail mid-stream (a dropped connection), `open`: stay open until the client leaves.
 */
export function sseResponse(items: (EventOut | number | string | (() => void))[], end: 'end' | 'error' | 'open' = 'end') {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const item of items) {
        if (cancelled) return;
        if (typeof item === 'number') await new Promise((resolve) => setTimeout(resolve, item));
        else if (typeof item === 'function') item();
        else controller.enqueue(encoder.encode(typeof item === 'string' ? item : sseFrame(item)));
      }
      if (end === 'end') controller.close();
      else if (end === 'error') {
        // Erroring a stream drops what is still queued: let the reader take the events first.
        await new Promise((resolve) => setTimeout(resolve, 30));
        controller.error(new TypeError('network connection lost'));
      }
    },
    cancel() {
      cancelled = true;
    },
  });
  return new HttpResponse(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}
