/**
 * Cron expressions as the API takes them: five fields (minute hour day-of-month month weekday), read in the
 * schedule's time zone. The API checks them for real (croniter); this catches the common slips before sending
 * and describes the common shapes in words.
 */

export const CRON_PRESETS: { label: string; cron: string }[] = [
  { label: 'Every 15 minutes', cron: '*/15 * * * *' },
  { label: 'Every hour', cron: '0 * * * *' },
  { label: 'Every day at 09:00', cron: '0 9 * * *' },
  { label: 'Weekdays at 09:00', cron: '0 9 * * 1-5' },
  { label: 'Mondays at 09:00', cron: '0 9 * * 1' },
  { label: 'The 1st of each month at 09:00', cron: '0 9 1 * *' },
];

const FIELDS = [
  { name: 'Minute', min: 0, max: 59, names: [] as string[] },
  { name: 'Hour', min: 0, max: 23, names: [] as string[] },
  { name: 'Day of the month', min: 1, max: 31, names: [] as string[] },
  { name: 'Month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'Weekday', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

function valueProblem(value: string, field: (typeof FIELDS)[number]): string | undefined {
  if (value === '*' || value === '?') return undefined;
  if (field.names.includes(value.toUpperCase())) return undefined;
  if (!/^\d+$/.test(value)) return `${field.name}: “${value}” is not a number${field.names.length ? ' or a name' : ''}.`;
  const number = Number(value);
  if (number < field.min || number > field.max) return `${field.name} must be ${field.min}–${field.max}.`;
  return undefined;
}

/** What is wrong with an expression, or undefined when it looks right (the API has the last word). */
export function cronProblem(raw: string): string | undefined {
  const text = raw.trim();
  if (!text) return 'Enter a cron expression.';
  if (text.length > 120) return 'Use at most 120 characters.';
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    return `Use five fields (minute hour day-of-month month weekday); this has ${parts.length}.`;
  }
  for (const [index, part] of parts.entries()) {
    const problem = fieldProblem(part, FIELDS[index]!);
    if (problem) return problem;
  }
  return neverFires(parts);
}

const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * A day of the month that none of the months has (`0 9 30 2 *`: February has no 30th): such an expression
 * never fires. Only plain lists are looked at, and only when the weekday is `*` (cron runs on either).
 */
function neverFires([, , dom, month, dow]: string[]): string | undefined {
  if (dow !== '*' || !dom || !month || month === '*' || !/^[\d,]+$/.test(dom)) return undefined;
  const days = dom.split(',').map(Number);
  const months: number[] = [];
  for (const token of month.split(',')) {
    const named = FIELDS[3]!.names.indexOf(token.toUpperCase());
    if (named >= 0) months.push(named + 1);
    else if (/^\d+$/.test(token)) months.push(Number(token));
    else return undefined; // a range or step: not worth working out here
  }
  const longest = Math.max(...months.map((m) => MONTH_DAYS[m - 1] ?? 31));
  if (days.every((day) => day > longest)) {
    const day = Math.min(...days);
    return months.length === 1
      ? `${MONTH_NAMES[months[0]! - 1]} has no day ${day}: this would never run.`
      : `None of these months has a day ${day}: this would never run.`;
  }
  return undefined;
}

function fieldProblem(part: string, field: (typeof FIELDS)[number]): string | undefined {
  for (const item of part.split(',')) {
    const [range = '', step, more] = item.split('/');
    if (more !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `${field.name}: “${item}” has a bad step (use */5 or 0-30/10).`;
    const bounds = range.split('-');
    if (bounds.length > 2 || bounds.some((bound) => bound === '')) return `${field.name}: “${item}” is not a value or a range.`;
    for (const bound of bounds) {
      const problem = valueProblem(bound, field);
      if (problem) return problem;
    }
  }
  return undefined;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const NUMBER = /^\d+$/;

const listOf = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

function dayName(token: string): string | null {
  const upper = token.toUpperCase();
  const named = FIELDS[4]!.names.indexOf(upper);
  if (named >= 0) return DAYS[named]!;
  return NUMBER.test(token) && Number(token) <= 7 ? DAYS[Number(token)]! : null;
}

const ordinal = (day: number) => {
  const suffix = day % 10 === 1 && day !== 11 ? 'st' : day % 10 === 2 && day !== 12 ? 'nd' : day % 10 === 3 && day !== 13 ? 'rd' : 'th';
  return `${day}${suffix}`;
};

/** The common shapes in words ("Weekdays at 09:00"); null for anything else. */
export function describeCron(raw: string): string | null {
  const parts = raw.trim().split(/\s+/);
  if (parts.length !== 5 || cronProblem(raw)) return null;
  const [minute, hour, dom, month, dow] = parts as [string, string, string, string, string];
  if (month !== '*') return null;
  if (hour === '*' && dom === '*' && dow === '*') {
    if (minute === '*') return 'Every minute';
    const step = /^\*\/(\d+)$/.exec(minute);
    if (step) return `Every ${step[1]} minutes`;
    if (NUMBER.test(minute)) return Number(minute) === 0 ? 'Every hour, on the hour' : `Every hour at minute ${Number(minute)}`;
    return null;
  }
  if (!NUMBER.test(minute) || !NUMBER.test(hour)) return null;
  const time = `${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`;
  if (dom === '*' && dow === '*') return `Every day at ${time}`;
  if (dom === '*') {
    if (dow === '1-5' || dow.toUpperCase() === 'MON-FRI') return `Weekdays (Monday to Friday) at ${time}`;
    if (dow === '0,6' || dow === '6,0' || dow.toUpperCase() === 'SAT,SUN') return `Weekends at ${time}`;
    const days = dow.split(',').map(dayName);
    if (days.some((day) => day === null)) return null;
    return `Every ${listOf(days as string[])} at ${time}`;
  }
  if (dow === '*' && NUMBER.test(dom)) return `On the ${ordinal(Number(dom))} of every month at ${time}`;
  return null;
}
