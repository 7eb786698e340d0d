import type { Errors } from '../../../components/useFormErrors';
import type { AgentDraft } from './draft';

/** What each section of the agent form gets: the draft, a way to change it, and the errors to show. */
export interface SectionProps {
  draft: AgentDraft;
  update: (change: (draft: AgentDraft) => AgentDraft) => void;
  errors: Errors;
}

const WORDS: Record<string, string> = {
  name: 'name',
  description: 'description',
  model: 'Model',
  fallbacks: 'fallback',
  options: 'options',
  credential: 'credential',
  temperature: 'temperature',
  top_p: 'top-p',
  max_tokens: 'max tokens',
  system_prompt: 'System prompt',
  prompt_template: 'Prompt template',
  input_schema: 'Input schema',
  variables: 'Variable',
  tools: 'Tool',
  config: 'configuration',
  approval_rules: 'approval rule',
  arguments: 'patterns',
  policies: 'Policy',
};

/** A readable name for an error path: `model.fallbacks.0.name` → "Model fallback 1 name". */
export function describePath(path: string): string {
  return path
    .split('.')
    .map((part) => (/^\d+$/.test(part) ? String(Number(part) + 1) : (WORDS[part] ?? part.replace(/_/g, ' '))))
    .join(' ');
}
