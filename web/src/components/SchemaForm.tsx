/**
 * A form generated from an agent's `input_schema` (JSON Schema of a task's input): one field per property,
 * typed and validated like the schema says. Schemas it cannot lay out as fields (nested `$ref`s, `oneOf`, …)
 * get a JSON editor for the whole input instead. No schema: a single "message" box (what an agent without a
 * template reads).
 */
import { Checkbox, FormControlLabel, FormHelperText, MenuItem, TextField } from '@mui/material';
import type { Errors } from './useFormErrors';
import { fieldId } from './useFormErrors';

type Json = Record<string, unknown>;
export type SchemaValues = Record<string, string | boolean>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

interface Property {
  name: string;
  type: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  title?: string;
  description?: string;
  required: boolean;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
}

const RAW = '__raw__';
const PRIMITIVE = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array']);

/** The schema's properties as form fields, or null when it needs the whole-input JSON editor. */
export function schemaFields(schema: unknown): Property[] | null {
  if (schema === null || schema === undefined) return [{ name: 'message', type: 'string', title: 'Message', required: false }];
  if (!isObject(schema) || schema.type !== 'object') return null;
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.map(String) : [];
  const fields: Property[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    if (!isObject(raw)) return null;
    let type = raw.type;
    if (Array.isArray(type)) type = type.find((item) => item !== 'null');
    if (typeof type !== 'string' && Array.isArray(raw.enum)) type = 'string';
    if (typeof type !== 'string' || !PRIMITIVE.has(type)) return null;
    fields.push({
      name,
      type: type as Property['type'],
      title: typeof raw.title === 'string' ? raw.title : undefined,
      description: typeof raw.description === 'string' ? raw.description : undefined,
      required: required.includes(name),
      enum: Array.isArray(raw.enum) ? raw.enum : undefined,
      minimum: typeof raw.minimum === 'number' ? raw.minimum : undefined,
      maximum: typeof raw.maximum === 'number' ? raw.maximum : undefined,
      minLength: typeof raw.minLength === 'number' ? raw.minLength : undefined,
      maxLength: typeof raw.maxLength === 'number' ? raw.maxLength : undefined,
      default: raw.default,
    });
  }
  return fields;
}

function display(value: unknown, type: Property['type']): string | boolean {
  if (type === 'boolean') return value === true;
  if (value === undefined || value === null) return '';
  if (type === 'object' || type === 'array') return JSON.stringify(value, null, 2);
  return String(value);
}

/** Form values for a schema, from an earlier input (re-run) or the schema's defaults. */
export function initialValues(schema: unknown, input?: Json | null): SchemaValues {
  const fields = schemaFields(schema);
  if (fields === null) return { [RAW]: input ? JSON.stringify(input, null, 2) : '{}' };
  return Object.fromEntries(fields.map((field) => [field.name, display(input?.[field.name] ?? field.default, field.type)]));
}

/** The task input from form values, or errors keyed `input.<field>` (as the API names them). */
export function toInput(schema: unknown, values: SchemaValues): { input: Json; errors: Errors } {
  const errors: Errors = {};
  const fields = schemaFields(schema);
  if (fields === null) {
    try {
      const parsed: unknown = JSON.parse(String(values[RAW] ?? '{}') || '{}');
      if (isObject(parsed)) return { input: parsed, errors };
      errors[`input.${RAW}`] = 'The input must be a JSON object ({…}).';
    } catch (error) {
      errors[`input.${RAW}`] = `Not valid JSON: ${error instanceof Error ? error.message : 'parse error'}.`;
    }
    return { input: {}, errors };
  }
  const input: Json = {};
  for (const field of fields) {
    const key = `input.${field.name}`;
    const raw = values[field.name];
    if (field.type === 'boolean') {
      input[field.name] = raw === true;
      continue;
    }
    const textValue = typeof raw === 'string' ? raw : '';
    if (!textValue.trim()) {
      if (field.required) errors[key] = 'This field is required.';
      continue;
    }
    if (field.enum) {
      // The choice as the schema spells it (an enum may hold numbers).
      input[field.name] = field.enum.find((option) => String(option) === textValue) ?? textValue;
    } else if (field.type === 'string') {
      if (field.minLength !== undefined && textValue.length < field.minLength) errors[key] = `Use at least ${field.minLength} characters.`;
      else if (field.maxLength !== undefined && textValue.length > field.maxLength) errors[key] = `Use at most ${field.maxLength} characters.`;
      input[field.name] = textValue;
    } else if (field.type === 'number' || field.type === 'integer') {
      const number = Number(textValue);
      if (!Number.isFinite(number)) errors[key] = 'Enter a number.';
      else if (field.type === 'integer' && !Number.isInteger(number)) errors[key] = 'Enter a whole number.';
      else if (field.minimum !== undefined && number < field.minimum) errors[key] = `Must be at least ${field.minimum}.`;
      else if (field.maximum !== undefined && number > field.maximum) errors[key] = `Must be at most ${field.maximum}.`;
      input[field.name] = number;
    } else {
      try {
        const parsed: unknown = JSON.parse(textValue);
        const ok = field.type === 'array' ? Array.isArray(parsed) : isObject(parsed);
        if (!ok) errors[key] = field.type === 'array' ? 'Enter a JSON array ([…]).' : 'Enter a JSON object ({…}).';
        input[field.name] = parsed;
      } catch {
        errors[key] = 'Not valid JSON.';
      }
    }
  }
  return { input, errors };
}

/**
 * Maps the API's input errors (`input.items.0.name`, keyed as `fieldErrors` gives them) onto the fields this
 * form shows: a nested path lands on its top-level field, and everything lands on the JSON editor when the
 * schema needs one. Other keys are returned unchanged.
 */
export function mapInputErrors(schema: unknown, errors: Errors): Errors {
  const fields = schemaFields(schema);
  const names = new Set((fields ?? []).map((field) => field.name));
  const mapped: Errors = {};
  for (const [key, message] of Object.entries(errors)) {
    if (key !== 'input' && !key.startsWith('input.')) {
      mapped[key] = message;
      continue;
    }
    const rest = key.split('.').slice(1);
    let target: string;
    let where: string[];
    if (fields === null) {
      [target, where] = [`input.${RAW}`, rest]; // the JSON editor: say where in the input
    } else if (rest[0] !== undefined && names.has(rest[0])) {
      [target, where] = [`input.${rest[0]}`, rest.slice(1)]; // the field; deeper parts named in the message
    } else {
      [target, where] = ['input', rest]; // the input as a whole, or a key the form has no field for
    }
    if (!(target in mapped)) mapped[target] = where.length ? `${where.join('.')}: ${message}` : message;
  }
  return mapped;
}

const SAMPLE_FORMATS: Record<string, (now: Date) => string> = {
  email: () => 'someone@example.com',
  uri: () => 'https://example.com/',
  url: () => 'https://example.com/',
  date: (now) => now.toISOString().slice(0, 10),
  'date-time': (now) => now.toISOString().replace(/\.\d+Z$/, 'Z'),
  time: () => '09:00:00Z',
  uuid: () => '00000000-0000-4000-8000-000000000000',
};

/**
 * A plausible input for a schema, to preview prompts with: the default or first choice when the schema has
 * one, else a value of the declared type (`example <name>` for text, a valid value for the common formats,
 * the minimum or 1 for numbers). No schema: a `message`.
 */
export function sampleInput(schema: unknown, now = new Date()): Json {
  if (schema === null || schema === undefined) return { message: 'Hello!' };
  if (!isObject(schema) || !isObject(schema.properties)) return {};
  const sample: Json = {};
  for (const [name, raw] of Object.entries(schema.properties)) {
    if (!isObject(raw)) continue;
    if (raw.default !== undefined) {
      sample[name] = raw.default;
      continue;
    }
    if (Array.isArray(raw.enum) && raw.enum.length) {
      sample[name] = raw.enum[0];
      continue;
    }
    const type = Array.isArray(raw.type) ? raw.type.find((item) => item !== 'null') : raw.type;
    if (type === 'string') {
      const format = typeof raw.format === 'string' ? SAMPLE_FORMATS[raw.format] : undefined;
      sample[name] = format ? format(now) : `example ${name}`;
    } else if (type === 'integer' || type === 'number') {
      sample[name] = typeof raw.minimum === 'number' ? raw.minimum : typeof raw.maximum === 'number' ? Math.min(1, raw.maximum) : 1;
    } else if (type === 'boolean') {
      sample[name] = false;
    } else if (type === 'array') {
      sample[name] = [];
    } else if (type === 'object') {
      sample[name] = {};
    }
  }
  return sample;
}

interface SchemaFormProps {
  schema: unknown;
  values: SchemaValues;
  onChange: (values: SchemaValues) => void;
  errors: Errors;
  /** Prefix for the inputs' ids, when two such forms share a page. */
  idPrefix?: string;
  disabled?: boolean;
}

export function SchemaForm({ schema, values, onChange, errors, idPrefix = '', disabled }: SchemaFormProps) {
  const fields = schemaFields(schema);
  const set = (name: string, value: string | boolean) => onChange({ ...values, [name]: value });
  if (fields === null) {
    const error = errors[`input.${RAW}`];
    return (
      <TextField
        id={fieldId(`${idPrefix}input.${RAW}`)}
        label="Input (JSON)"
        multiline
        minRows={6}
        value={String(values[RAW] ?? '')}
        onChange={(event) => set(RAW, event.target.value)}
        error={Boolean(error)}
        helperText={error ?? 'This agent’s input schema is too rich for a form: write the input as JSON.'}
        slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'monospace' } } }}
        disabled={disabled}
      />
    );
  }
  if (fields.length === 0) return <FormHelperText>This agent takes no input.</FormHelperText>;
  return (
    <>
      {fields.map((field) => {
        const key = `input.${field.name}`;
        const id = fieldId(`${idPrefix}${key}`);
        const error = errors[key];
        const label = field.title ?? field.name;
        const value = values[field.name];
        if (field.type === 'boolean') {
          return (
            <div key={field.name}>
              <FormControlLabel
                control={<Checkbox id={id} checked={value === true} onChange={(event) => set(field.name, event.target.checked)} disabled={disabled} />}
                label={label}
              />
              {(error ?? field.description) && <FormHelperText error={Boolean(error)}>{error ?? field.description}</FormHelperText>}
            </div>
          );
        }
        const common = {
          id,
          label,
          required: field.required,
          value: typeof value === 'string' ? value : '',
          onChange: (event: { target: { value: string } }) => set(field.name, event.target.value),
          error: Boolean(error),
          helperText: error ?? field.description,
          disabled,
        };
        if (field.enum) {
          return (
            <TextField key={field.name} select {...common}>
              {!field.required && (
                <MenuItem value="">
                  <em>None</em>
                </MenuItem>
              )}
              {field.enum.map((option) => (
                <MenuItem key={String(option)} value={String(option)}>
                  {String(option)}
                </MenuItem>
              ))}
            </TextField>
          );
        }
        if (field.type === 'number' || field.type === 'integer') {
          return <TextField key={field.name} {...common} type="text" slotProps={{ htmlInput: { inputMode: field.type === 'integer' ? 'numeric' : 'decimal' } }} />;
        }
        if (field.type === 'object' || field.type === 'array') {
          return (
            <TextField
              key={field.name}
              {...common}
              multiline
              minRows={3}
              helperText={error ?? field.description ?? `JSON ${field.type}`}
              slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'monospace' } } }}
            />
          );
        }
        const long = field.maxLength === undefined || field.maxLength > 200;
        return <TextField key={field.name} {...common} multiline={long} minRows={long ? 2 : undefined} />;
      })}
    </>
  );
}
