import { describe, expect, it } from 'vitest';
import { CRON_PRESETS, cronProblem, describeCron } from './cron';

describe('cronProblem', () => {
  it('accepts five-field expressions with steps, ranges, lists and names', () => {
    for (const cron of ['* * * * *', '*/15 * * * *', '0 9 * * 1-5', '30 8,12 1 JAN MON-FRI', '0-30/10 * * * 7', ...CRON_PRESETS.map((preset) => preset.cron)]) {
      expect(cronProblem(cron), cron).toBeUndefined();
    }
  });

  it('names the slip', () => {
    expect(cronProblem('  ')).toBe('Enter a cron expression.');
    expect(cronProblem('0 9 * *')).toBe('Use five fields (minute hour day-of-month month weekday); this has 4.');
    expect(cronProblem('0 24 * * *')).toBe('Hour must be 0–23.');
    expect(cronProblem('*/0 * * * *')).toBe('Minute: “*/0” has a bad step (use */5 or 0-30/10).');
    expect(cronProblem('0 9 * * FUN')).toBe('Weekday: “FUN” is not a number or a name.');
    expect(cronProblem('0 9 1- * *')).toBe('Day of the month: “1-” is not a value or a range.');
    // The API answers these with a server error (croniter finds no next date): caught here first.
    expect(cronProblem('0 0 30 2 *')).toBe('February has no day 30: this would never run.');
    expect(cronProblem('0 0 31 4,6 *')).toBe('None of these months has a day 31: this would never run.');
    expect(cronProblem('0 0 29 2 *')).toBeUndefined(); // leap years
    expect(cronProblem('0 0 31 2 MON')).toBeUndefined(); // on Mondays as well: it runs
  });
});

describe('describeCron', () => {
  it('says the common shapes in words', () => {
    expect(describeCron('*/15 * * * *')).toBe('Every 15 minutes');
    expect(describeCron('0 * * * *')).toBe('Every hour, on the hour');
    expect(describeCron('0 9 * * *')).toBe('Every day at 09:00');
    expect(describeCron('30 8 * * 1-5')).toBe('Weekdays (Monday to Friday) at 08:30');
    expect(describeCron('0 18 * * 1,4')).toBe('Every Monday and Thursday at 18:00');
    expect(describeCron('0 9 1 * *')).toBe('On the 1st of every month at 09:00');
    expect(describeCron('0 9 * 1 *')).toBeNull();
    expect(describeCron('nonsense')).toBeNull();
  });
});
