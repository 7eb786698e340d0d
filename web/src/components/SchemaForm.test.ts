import { describe, expect, it } from 'vitest';
import { mapInputErrors, sampleInput } from './SchemaForm';

describe('sampleInput', () => {
  it('gives each declared variable a value of its type (defaults and choices first, valid formats)', () => {
    const now = new Date('2026-03-04T05:06:07.890Z');
    const schema = {
      type: 'object',
      properties: {
        topic: { type: 'string' },
        email: { type: 'string', format: 'email' },
        day: { type: 'string', format: 'date' },
        tone: { type: 'string', enum: ['formal', 'casual'] },
        count: { type: 'integer', minimum: 3 },
        ratio: { type: 'number' },
        urgent: { type: 'boolean' },
        tags: { type: 'array' },
        extra: { type: 'object' },
        lang: { type: 'string', default: 'fr' },
        maybe: { type: ['null', 'string'] },
      },
    };
    expect(sampleInput(schema, now)).toEqual({
      topic: 'example topic',
      email: 'someone@example.com',
      day: '2026-03-04',
      tone: 'formal',
      count: 3,
      ratio: 1,
      urgent: false,
      tags: [],
      extra: {},
      lang: 'fr',
      maybe: 'example maybe',
    });
    expect(sampleInput(null)).toEqual({ message: 'Hello!' });
  });
});

describe('mapInputErrors', () => {
  const schema = { type: 'object', properties: { items: { type: 'array' }, name: { type: 'string' } } };

  it('puts nested and unknown input errors on the fields the form shows', () => {
    expect(
      mapInputErrors(schema, {
        'input.name': 'is required',
        'input.items.0.sku': 'must be of type string',
        'input.other': 'is not a declared input',
        system_prompt: 'left alone',
      }),
    ).toEqual({
      'input.name': 'is required',
      'input.items': '0.sku: must be of type string',
      input: 'other: is not a declared input',
      system_prompt: 'left alone',
    });
  });

  it('puts everything on the JSON editor when the schema needs one', () => {
    expect(mapInputErrors({ type: 'object', properties: { a: { oneOf: [] } } }, { 'input.a.b': 'bad' })).toEqual({ 'input.__raw__': 'a.b: bad' });
  });
});
