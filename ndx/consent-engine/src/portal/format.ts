const DATE = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' });

/** "1 March 2026 at 09:00 UTC"; empty for no date. */
export const formatDate = (iso: string | null): string => (iso ? `${DATE.format(new Date(iso))} UTC` : '');

/** "30 days", "1 hour": how long a consent lasts. */
export function durationText(seconds: number): string {
  const days = seconds / 86_400;
  if (days >= 1) return `${Math.round(days)} day${Math.round(days) === 1 ? '' : 's'}`;
  const hours = Math.max(1, Math.round(seconds / 3600));
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}
