/**
 * The editor's live prompt preview: the form's templates and input schema as they are now (saved or not),
 * rendered by the API (`POST /v1/agents/render`) for a sample input, exactly as a run would render them.
 *
 * The request waits until typing pauses (`PREVIEW_DELAY_MS`); a request made stale by further typing is
 * aborted (the query's key is the body, and its fetch takes the query's abort signal). The last result stays
 * on screen while the next one is on its way, so errors and output do not flicker while typing.
 */
import { useQuery } from '@tanstack/react-query';
import { useCallback, useMemo, useState } from 'react';
import { ApiError, fieldErrors } from '../../../api/errors';
import { agentQueries } from '../../../api/queries/agents';
import type { RenderDraftIn, RenderDraftOut } from '../../../api/types';
import { initialValues, mapInputErrors, sampleInput, schemaFields, toInput, type SchemaValues } from '../../../components/SchemaForm';
import { useDebouncedValue } from '../../../components/useDebouncedValue';
import type { Errors } from '../../../components/useFormErrors';
import { MAX_TEMPLATE_CHARS, schemaFromDraft, type AgentDraft } from './draft';

export const PREVIEW_DELAY_MS = 400;

/** The form fields the preview's template errors land on. */
export type LiveField = 'system_prompt' | 'prompt_template' | 'input_schema';
export type LiveErrors = Partial<Record<LiveField, string>>;

export type PreviewStatus = 'blocked' | 'updating' | 'ready' | 'error';

export interface DraftPreview {
  /** The input schema the form declares now (what the sample input form is generated from). */
  schema: unknown;
  values: SchemaValues;
  setValues: (values: SchemaValues) => void;
  /** Forget edits to the sample: back to values generated from the declared variables. */
  resetSample: () => void;
  /** The sample input's errors: the form's own checks, then the API's (keyed `input.<field>`). */
  sampleErrors: Errors;
  /** The API's errors about the templates or the schema, for the fields that hold them. */
  liveErrors: LiveErrors;
  status: PreviewStatus;
  /** Why nothing is sent (a problem the form itself sees). */
  blockedReason: string | null;
  /** The last rendered prompt (kept, dimmed, while the next one is on its way). */
  result: RenderDraftOut | undefined;
  /** The last error (API or network); with `liveErrors`/`sampleErrors` when it names fields. */
  error: unknown;
  retry: () => void;
}

type Outcome = { data: RenderDraftOut; error?: undefined } | { data?: undefined; error: unknown };

const NOTHING: RenderDraftIn = { system_prompt: '' };

function splitErrors(error: unknown): { live: LiveErrors; input: Errors } {
  const live: LiveErrors = {};
  const input: Errors = {};
  if (!(error instanceof ApiError)) return { live, input };
  for (const [key, message] of Object.entries(fieldErrors(error.details))) {
    if (key === 'system_prompt' || key === 'prompt_template') live[key] ??= message;
    else if (key === 'input_schema') live.input_schema ??= message;
    else if (key.startsWith('input_schema.')) live.input_schema ??= `${key.slice('input_schema.'.length).replace(/\./g, '/')}: ${message}`;
    else if (key === 'input' || key.startsWith('input.')) input[key] = message;
  }
  return { live, input };
}

export function useDraftPreview(draft: AgentDraft, delay = PREVIEW_DELAY_MS): DraftPreview {
  const { schemaMode, variables, schemaJson, system_prompt: systemPrompt, prompt_template: promptTemplate } = draft;

  // The schema as saving would send it; a string key keeps everything below stable while other fields change.
  const { schemaKey, schemaProblem } = useMemo(() => {
    const errors: Errors = {};
    const built = schemaFromDraft({ schemaMode, variables, schemaJson }, errors);
    return { schemaKey: JSON.stringify(built), schemaProblem: Object.keys(errors).length > 0 };
  }, [schemaMode, variables, schemaJson]);
  const schema = useMemo(() => JSON.parse(schemaKey) as Record<string, unknown> | null, [schemaKey]);

  // The sample: generated from the variables; what the user typed is kept per variable name and type.
  const [edited, setEdited] = useState<SchemaValues>({});
  const generated = useMemo(() => initialValues(schema, sampleInput(schema)), [schema]);
  const slotOf = useMemo(() => {
    const fields = schemaFields(schema);
    const types = new Map((fields ?? []).map((field) => [field.name, field.type]));
    return (name: string) => (fields === null ? name : `${name}:${types.get(name) ?? ''}`);
  }, [schema]);
  const values = useMemo(
    () => Object.fromEntries(Object.entries(generated).map(([name, value]) => [name, edited[slotOf(name)] ?? value])),
    [generated, edited, slotOf],
  );
  const setValues = useCallback(
    (next: SchemaValues) =>
      setEdited((current) => {
        const changed = { ...current };
        for (const [name, value] of Object.entries(next)) if (value !== values[name]) changed[slotOf(name)] = value;
        return changed;
      }),
    [values, slotOf],
  );
  const resetSample = useCallback(() => setEdited({}), []);
  const sample = useMemo(() => toInput(schema, values), [schema, values]);

  const blockedReason = schemaProblem
    ? 'Fix the input variables to update the preview.'
    : systemPrompt.length > MAX_TEMPLATE_CHARS || promptTemplate.length > MAX_TEMPLATE_CHARS
      ? 'A template is too long to preview (100,000 characters at most).'
      : Object.keys(sample.errors).length > 0
        ? 'Fix the sample input to update the preview.'
        : null;

  const bodyKey =
    blockedReason === null
      ? JSON.stringify({
          system_prompt: systemPrompt,
          prompt_template: promptTemplate.trim() ? promptTemplate : null,
          input_schema: schema,
          input: sample.input,
        } satisfies RenderDraftIn)
      : null;
  const settledKey = useDebouncedValue(bodyKey, delay);
  const body = useMemo(() => (settledKey === null ? null : (JSON.parse(settledKey) as RenderDraftIn)), [settledKey]);
  const rendered = useQuery({ ...agentQueries.renderDraft(body ?? NOTHING), enabled: body !== null });

  // Keep the last settled outcome while the next request is pending (no flicker while typing).
  const [last, setLast] = useState<Outcome | null>(null);
  const current: Outcome | null = rendered.isError
    ? { error: rendered.error }
    : rendered.isSuccess && !rendered.isPlaceholderData
      ? { data: rendered.data }
      : null;
  if (current && (current.data !== last?.data || current.error !== last?.error)) setLast(current);
  const shown = current ?? last;

  const { live: liveErrors, input: inputErrors } = useMemo(() => splitErrors(shown?.error), [shown?.error]);
  const sampleErrors = useMemo(
    () => (blockedReason !== null ? sample.errors : mapInputErrors(schema, inputErrors)),
    [blockedReason, sample.errors, schema, inputErrors],
  );

  const status: PreviewStatus =
    blockedReason !== null
      ? 'blocked'
      : bodyKey !== settledKey || rendered.isFetching || !shown
        ? 'updating'
        : shown.error !== undefined
          ? 'error'
          : 'ready';

  const { refetch } = rendered;
  const retry = useCallback(() => void refetch(), [refetch]);

  return {
    schema,
    values,
    setValues,
    resetSample,
    sampleErrors,
    liveErrors: blockedReason !== null ? NO_LIVE_ERRORS : liveErrors,
    status,
    blockedReason,
    result: shown?.data,
    error: shown?.error,
    retry,
  };
}

const NO_LIVE_ERRORS: LiveErrors = {};
