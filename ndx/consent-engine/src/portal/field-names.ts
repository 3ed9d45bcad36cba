/** "birth.dateOfBirth" → "Date of birth": how a field is named to the citizen when no display name was given. */
export function readableFieldName(field: string): string {
  const last = field.split('.').at(-1) ?? field;
  const words = last
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : field;
}
