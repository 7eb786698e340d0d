"""Business logic: functions taking an `AsyncSession` and keyword-only arguments."""
