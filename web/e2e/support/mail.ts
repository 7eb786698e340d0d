/** The mail outbox of the embedded default: one JSON file per message in `<data dir>/outbox/`. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DATA_DIR } from './env';

export interface OutboxMail {
  id: string;
  created_at: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
}

const OUTBOX = path.join(DATA_DIR, 'outbox');

async function readOutbox(): Promise<OutboxMail[]> {
  let names: string[];
  try {
    names = await readdir(OUTBOX);
  } catch {
    return []; // created with the first message
  }
  const mails = await Promise.all(
    names.filter((name) => name.endsWith('.json')).sort().map(async (name) => JSON.parse(await readFile(path.join(OUTBOX, name), 'utf8')) as OutboxMail),
  );
  return mails;
}

/** The newest message to `to` whose subject matches, waiting for it to arrive. */
export async function waitForMail(to: string, subject: RegExp, timeoutMs = 10_000): Promise<OutboxMail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readOutbox()).filter((mail) => mail.to === to && subject.test(mail.subject)).at(-1);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} in ${OUTBOX} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The first link in a mail's text that leads to `pathname` (e.g. `/verify-email`). */
export function linkIn(mail: OutboxMail, pathname: string): string {
  for (const match of mail.text.matchAll(/https?:\/\/\S+/g)) {
    const url = new URL(match[0]);
    if (url.pathname === pathname) return url.toString();
  }
  throw new Error(`no ${pathname} link in the mail "${mail.subject}":\n${mail.text}`);
}
