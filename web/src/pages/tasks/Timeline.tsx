import BuildIcon from '@mui/icons-material/Build';
import GavelIcon from '@mui/icons-material/Gavel';
import HourglassEmptyIcon from '@mui/icons-material/HourglassEmpty';
import PsychologyIcon from '@mui/icons-material/Psychology';
import ReplayIcon from '@mui/icons-material/Replay';
import { Accordion, AccordionDetails, AccordionSummary, Alert, Box, Button, Chip, Stack, Typography } from '@mui/material';
import ExpandMoreIcon from '@mui/icons-material/ExpandMore';
import type { StepOut } from '../../api/types';
import { JsonView } from '../../components/JsonView';
import { StateChip } from '../../components/StateChip';
import { formatCost, formatDateTime, formatDuration, formatNumber } from '../../components/format';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const ICONS: Record<string, React.ReactNode> = {
  llm: <PsychologyIcon />,
  tool: <BuildIcon />,
  approval: <GavelIcon />,
  wait: <HourglassEmptyIcon />,
};

export interface LlmFacts {
  inputTokens: number;
  outputTokens: number;
  cost: number;
  model?: string;
  provider?: string;
  finishReason?: string;
  content?: string | null;
  toolCalls: { id?: string; name: string; arguments: unknown }[];
}

export function llmFacts(step: StepOut): LlmFacts | null {
  if (step.kind !== 'llm' || !isObject(step.output)) return null;
  const output = step.output;
  const usage = isObject(output.usage) ? output.usage : {};
  return {
    inputTokens: Number(usage.input_tokens ?? 0),
    outputTokens: Number(usage.output_tokens ?? 0),
    cost: Number(output.cost_usd ?? 0),
    model: typeof output.model === 'string' ? output.model : undefined,
    provider: typeof output.provider === 'string' ? output.provider : undefined,
    finishReason: typeof output.finish_reason === 'string' ? output.finish_reason : undefined,
    content: typeof output.content === 'string' ? output.content : null,
    toolCalls: Array.isArray(output.tool_calls)
      ? output.tool_calls.filter(isObject).map((call) => ({ id: String(call.id ?? ''), name: String(call.name ?? '?'), arguments: call.arguments }))
      : [],
  };
}

const TRUNCATED = /… \[truncated: (\d+) more characters\]$/;

/**
 * A tool step's stored output is the result plus `content`, the JSON text the model was shown. Showing both
 * repeats the result; the text matters only when it was cut to the size limit.
 */
export function toolResult(output: unknown): { result: unknown; omittedChars: number | null } {
  if (!isObject(output) || !('content' in output)) return { result: output, omittedChars: null };
  const { content, ...result } = output;
  const cut = typeof content === 'string' ? TRUNCATED.exec(content) : null;
  return { result, omittedChars: cut ? Number(cut[1]) : null };
}

/**
 * Whether the step went wrong: it failed, or it is a tool call whose result is an error. Such a call is
 * checkpointed as `succeeded` (a replay must not run it again; the model was told), so its status alone reads
 * as a success: the API's `outcome` says what happened.
 */
export const stepFailed = (step: StepOut) => step.status === 'failed' || step.outcome === 'error';

/** The state a step's chip shows: a tool call whose result is an error is `failed`, not `succeeded`. */
export const stepState = (step: StepOut) => (stepFailed(step) ? 'failed' : step.status);

/** True when a tool's result is nothing but its error (shown once, as the step's error). */
const onlyTheError = (result: unknown, error: StepOut['error']) =>
  Boolean(error) && isObject(result) && Object.keys(result).length === 1 && JSON.stringify(result.error) === JSON.stringify(error);

function StepError({ name, error }: { name: string; error: Record<string, unknown> }) {
  const { code, message, ...rest } = error;
  if (typeof message !== 'string') {
    return (
      <>
        <Typography variant="body2" color="error" sx={{ fontWeight: 600, mt: 1 }}>
          Error
        </Typography>
        <JsonView value={error} label={`Error of ${name}`} maxHeight={200} />
      </>
    );
  }
  return (
    <Alert severity="error" role="group" sx={{ mt: 1, overflowWrap: 'anywhere' }} aria-label={`Error of ${name}`}>
      {typeof code === 'string' && <strong>{code}: </strong>}
      {message}
      {Object.keys(rest).length > 0 && <JsonView value={rest} label={`Details of the error of ${name}`} maxHeight={160} />}
    </Alert>
  );
}

function ToolResult({ name, output, error }: { name: string; output: unknown; error: StepOut['error'] }) {
  const { result, omittedChars } = toolResult(output);
  if (onlyTheError(result, error)) return null;
  return (
    <>
      <Typography variant="body2" sx={{ fontWeight: 600, mt: 1 }}>
        Result
      </Typography>
      <JsonView value={result} label={`Result of ${name}`} />
      {omittedChars !== null && (
        <Typography variant="body2" color="text.secondary">
          The model was shown this result cut short: {formatNumber(omittedChars)} characters left out.
        </Typography>
      )}
    </>
  );
}

function Fact({ label, value }: { label: string; value: string }) {
  return (
    <Box component="span" sx={{ whiteSpace: 'nowrap' }}>
      <Typography component="span" color="text.secondary" variant="body2">
        {label}{' '}
      </Typography>
      <Typography component="span" variant="body2" sx={{ fontWeight: 600 }}>
        {value}
      </Typography>
    </Box>
  );
}

const textBlock = {
  m: 0,
  p: 1.5,
  whiteSpace: 'pre-wrap',
  overflowWrap: 'anywhere',
  fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
  fontSize: '0.8125rem',
  bgcolor: 'action.hover',
  borderRadius: 1,
  maxHeight: 360,
  overflow: 'auto',
} as const;

function StepBody({ step, streamed }: { step: StepOut; streamed?: string }) {
  const llm = llmFacts(step);
  const input = isObject(step.input) ? step.input : null;
  return (
    <>
      {llm && (
        <>
          <Box sx={{ mb: 1, display: 'flex', flexWrap: 'wrap', columnGap: 2 }}>
            {llm.provider && <Fact label="Model" value={`${llm.provider}/${llm.model ?? '?'}`} />}
            <Fact label="Tokens in" value={formatNumber(llm.inputTokens)} />
            <Fact label="out" value={formatNumber(llm.outputTokens)} />
            <Fact label="Cost" value={formatCost(llm.cost)} />
            <Fact label="Latency" value={formatDuration(step.started_at, step.finished_at)} />
            {llm.finishReason && <Fact label="Finish" value={llm.finishReason} />}
          </Box>
          {llm.content ? (
            <Box component="pre" sx={textBlock} aria-label="Model answer">
              {llm.content}
            </Box>
          ) : llm.content === null && llm.toolCalls.length === 0 ? (
            <Typography color="text.secondary">The organisation does not store prompts and answers.</Typography>
          ) : null}
          {llm.toolCalls.map((call, index) => (
            <Box key={call.id || index} sx={{ mt: 1 }}>
              <Typography variant="body2" sx={{ fontWeight: 600 }}>
                Calls <code>{call.name}</code> with
              </Typography>
              <JsonView value={call.arguments} label={`Arguments for ${call.name}`} maxHeight={200} />
            </Box>
          ))}
        </>
      )}
      {!llm && step.kind === 'llm' && streamed !== undefined && (
        <Box component="pre" sx={textBlock} aria-label="Answer so far" aria-live="off">
          {streamed}
          {step.status === 'running' && <span className="visually-hidden"> (still writing)</span>}
        </Box>
      )}
      {step.kind === 'tool' && (
        <>
          <Box sx={{ mb: 1 }}>
            <Fact label="Duration" value={formatDuration(step.started_at, step.finished_at)} />
          </Box>
          <Typography variant="body2" sx={{ fontWeight: 600 }}>
            Arguments
          </Typography>
          {input && 'arguments' in input ? (
            <JsonView value={input.arguments} label={`Arguments of ${step.name}`} maxHeight={200} />
          ) : (
            <Typography color="text.secondary">Not stored.</Typography>
          )}
          {step.output !== null && step.output !== undefined && <ToolResult name={step.name} output={step.output} error={step.error} />}
        </>
      )}
      {(step.kind === 'approval' || step.kind === 'wait') && <WaitBody step={step} />}
      {step.error && <StepError name={step.name} error={step.error} />}
    </>
  );
}

/** A wait (for an approval or a signal): until when, and how it ended. */
function WaitBody({ step }: { step: StepOut }) {
  const input = isObject(step.input) ? step.input : {};
  const output = isObject(step.output) ? step.output : null;
  const signal = output && isObject(output.signal) ? output.signal : null;
  const until = typeof input.until === 'string' ? input.until : null;
  let outcome: string | null = null;
  if (output?.timed_out === true) outcome = 'Nobody decided in time: the default applied.';
  else if (signal && step.kind === 'approval') {
    outcome = `${signal.approved === true ? 'Approved' : 'Denied'}${typeof signal.comment === 'string' && signal.comment ? ` — “${signal.comment}”` : ''}.`;
  }
  return (
    <>
      {step.status === 'running' && until && (
        <Typography variant="body2">
          Waits until {formatDateTime(until)}
          {step.kind === 'approval' ? '; then the call is denied.' : '.'}
        </Typography>
      )}
      {outcome && <Typography variant="body2">{outcome}</Typography>}
      {output && !outcome && <JsonView value={output} label={`Outcome of ${step.name}`} maxHeight={160} />}
    </>
  );
}

interface TimelineProps {
  steps: StepOut[];
  tokens: Record<string, string>;
  /** Offer "retry from this step" (the task has finished and the caller may retry). */
  onRetryFrom?: (position: number) => void;
}

/** The task's steps in order: LLM calls with tokens, cost and latency; tool calls with arguments and results. */
export function Timeline({ steps, tokens, onRetryFrom }: TimelineProps) {
  const ordered = [...steps].sort((a, b) => a.position - b.position);
  // Tokens streamed for a step not yet checkpointed (the step row appears once it finishes or is long).
  const pending = Object.keys(tokens).filter((key) => !steps.some((step) => step.step_key === key));
  if (ordered.length === 0 && pending.length === 0) {
    return <Typography color="text.secondary">No steps yet.</Typography>;
  }
  return (
    <Box component="ol" sx={{ listStyle: 'none', p: 0, m: 0 }} aria-label="Steps">
      {ordered.map((step) => {
        const llm = llmFacts(step);
        return (
          <Box component="li" key={step.step_key} sx={{ mb: 1 }}>
            <Accordion
              disableGutters
              variant="outlined"
              defaultExpanded={step.status !== 'succeeded' || stepFailed(step) || step.kind === 'llm'}
              sx={stepFailed(step) ? { borderColor: 'error.main' } : undefined}
            >
              <AccordionSummary expandIcon={<ExpandMoreIcon />} aria-controls={`step-${step.step_key}`} id={`step-${step.step_key}-summary`}>
                <Stack direction="row" sx={{ alignItems: 'center', gap: 1, flexWrap: 'wrap', minWidth: 0 }}>
                  <Box aria-hidden sx={{ display: 'flex', color: 'text.secondary' }}>
                    {ICONS[step.kind] ?? <BuildIcon />}
                  </Box>
                  <Typography sx={{ fontWeight: 600 }}>
                    {step.position}. {step.kind === 'llm' ? 'LLM call' : step.kind === 'tool' ? 'Tool' : step.kind === 'approval' ? 'Approval' : step.kind}
                  </Typography>
                  <Typography sx={{ fontFamily: 'monospace', overflowWrap: 'anywhere' }}>{step.name}</Typography>
                  <StateChip state={stepState(step)} />
                  {llm && (
                    <Typography variant="body2" color="text.secondary">
                      {formatNumber(llm.inputTokens + llm.outputTokens)} tokens · {formatCost(llm.cost)} · {formatDuration(step.started_at, step.finished_at)}
                    </Typography>
                  )}
                  {step.attempt > 1 && <Chip size="small" label={`attempt ${step.attempt}`} />}
                </Stack>
              </AccordionSummary>
              <AccordionDetails id={`step-${step.step_key}`}>
                <StepBody step={step} streamed={tokens[step.step_key]} />
                {onRetryFrom && (
                  <Button size="small" startIcon={<ReplayIcon />} sx={{ mt: 1 }} onClick={() => onRetryFrom(step.position)}>
                    Retry from this step
                  </Button>
                )}
              </AccordionDetails>
            </Accordion>
          </Box>
        );
      })}
      {pending.map((key) => (
        <Box component="li" key={key} sx={{ mb: 1 }}>
          <Box sx={{ border: 1, borderColor: 'info.main', borderRadius: 1, p: 2 }}>
            <Stack direction="row" sx={{ alignItems: 'center', gap: 1, mb: 1 }}>
              <PsychologyIcon aria-hidden color="info" />
              <Typography sx={{ fontWeight: 600 }}>LLM call {key} — writing…</Typography>
            </Stack>
            <Box component="pre" sx={textBlock} aria-label={`Answer so far of ${key}`}>
              {tokens[key]}
            </Box>
          </Box>
        </Box>
      ))}
    </Box>
  );
}
