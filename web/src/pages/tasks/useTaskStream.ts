/**
 * Follow a task's events live over Server-Sent Events, resuming after a drop.
 *
 * The server sends the backlog, then new events until the task finishes, then closes the stream. A drop
 * (network, proxy timeout, deploy) reconnects with `Last-Event-ID` = the last sequence seen, with exponential
 * backoff; an expired session is refreshed by `authFetch`. Token batches (`llm.tokens`) are folded into one
 * text per step rather than kept as events. Step and task events refresh the task's queries (debounced).
 */
import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useReducer, useRef } from 'react';
import { ApiError } from '../../api/errors';
import { isTerminal, taskKeys, taskQueries } from '../../api/queries/tasks';
import { readTaskEvents } from '../../api/sse';
import type { EventOut } from '../../api/types';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

interface State {
  events: EventOut[];
  /** Streamed text per LLM step key. */
  tokens: Record<string, string>;
  lastSeq: number;
  status: StreamStatus;
  error: unknown;
  retryInMs: number | null;
}

type Action =
  | { type: 'events'; events: EventOut[] }
  | { type: 'status'; status: StreamStatus; error?: unknown; retryInMs?: number | null }
  | { type: 'reset' };

const initial: State = { events: [], tokens: {}, lastSeq: 0, status: 'connecting', error: null, retryInMs: null };

function reducer(state: State, action: Action): State {
  switch (action.type) {
    case 'reset':
      return initial;
    case 'status':
      return { ...state, status: action.status, error: action.error ?? null, retryInMs: action.retryInMs ?? null };
    case 'events': {
      let { events, tokens, lastSeq } = state;
      const added: EventOut[] = [];
      for (const event of action.events) {
        if (event.seq <= lastSeq) continue; // a replay after reconnecting: seen already
        lastSeq = event.seq;
        if (event.type === 'llm.tokens') {
          const step = String(event.data.step ?? '');
          const text = typeof event.data.text === 'string' ? event.data.text : '';
          tokens = { ...tokens, [step]: (tokens[step] ?? '') + text };
        } else {
          added.push(event);
        }
      }
      if (added.length) events = [...events, ...added];
      return { ...state, events, tokens, lastSeq };
    }
  }
}

/** Reconnect delay after the n-th failure in a row: 1 s, 2 s, 4 s … up to 30 s, with ±20 % jitter. */
export const streamSettings = {
  backoff: (attempt: number) => Math.min(30_000, 1000 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4),
};

const REFRESHING = /^(step|task)\./;

export function useTaskStream(taskId: string) {
  const queryClient = useQueryClient();
  const [state, dispatch] = useReducer(reducer, initial);
  const [generation, restart] = useReducer((n: number) => n + 1, 0);
  const lastSeq = useRef(0);

  // Before the stream effect: a new task starts from its first event.
  useEffect(() => {
    dispatch({ type: 'reset' });
    lastSeq.current = 0;
  }, [taskId]);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    let refreshTimer: number | undefined;
    const refreshSoon = () => {
      window.clearTimeout(refreshTimer);
      refreshTimer = window.setTimeout(() => {
        void queryClient.invalidateQueries({ queryKey: taskKeys.detail(taskId) });
      }, 250);
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = window.setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          window.clearTimeout(timer);
          resolve();
        });
      });

    void (async () => {
      let failures = 0;
      while (!signal.aborted) {
        dispatch({ type: 'status', status: failures ? 'reconnecting' : 'connecting' });
        let batch: EventOut[] = [];
        let flush: number | undefined;
        try {
          await readTaskEvents({
            taskId,
            lastEventId: lastSeq.current,
            signal,
            onOpen: () => {
              failures = 0;
              dispatch({ type: 'status', status: 'live' });
            },
            onEvent: (event) => {
              lastSeq.current = Math.max(lastSeq.current, event.seq);
              batch.push(event);
              if (REFRESHING.test(event.type)) refreshSoon();
              // Many events arrive at once in a backlog: apply them together, once per frame at most.
              if (flush === undefined) {
                flush = window.setTimeout(() => {
                  flush = undefined;
                  const events = batch;
                  batch = [];
                  dispatch({ type: 'events', events });
                }, 16);
              }
            },
          });
          if (signal.aborted) return;
          // The server ends the stream when the task has finished; a proxy may cut it earlier. Check.
          const task = await queryClient.fetchQuery({ ...taskQueries.detail(taskId), staleTime: 0 });
          if (isTerminal(task.state)) {
            dispatch({ type: 'status', status: 'ended' });
            return;
          }
        } catch (error) {
          if (signal.aborted) return;
          if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
            dispatch({ type: 'status', status: 'failed', error });
            return; // not found, forbidden, signed out: waiting will not help
          }
          failures += 1;
          const wait = streamSettings.backoff(failures);
          dispatch({ type: 'status', status: 'reconnecting', error, retryInMs: wait });
          await sleep(wait);
          continue;
        } finally {
          if (flush !== undefined) {
            window.clearTimeout(flush);
            flush = undefined;
          }
          if (batch.length) dispatch({ type: 'events', events: batch });
          batch = [];
        }
        failures += 1;
        await sleep(streamSettings.backoff(failures));
      }
    })();

    return () => {
      controller.abort();
      window.clearTimeout(refreshTimer);
    };
  }, [taskId, generation, queryClient]);

  const reconnect = useCallback(() => restart(), []);
  return { ...state, reconnect };
}
