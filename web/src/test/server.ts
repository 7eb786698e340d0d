import { setupServer } from 'msw/node';
import { handlers } from './handlers';

/** The mock API every test talks to (see `handlers.ts`); unknown requests fail the test. */
export const server = setupServer(...handlers);
