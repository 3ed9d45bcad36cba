import { z } from 'zod';
import type { Agency, FieldStatus, Lookup, NdxField } from './passport-lookup.ts';

/** One field of the passport application form, filled from NDX fields in order of preference. */
export interface FormFieldSpec {
  key: FormFieldKey;
  label: string;
  sources: readonly NdxField[];
  input: 'text' | 'date' | 'sex' | 'textarea';
  required: boolean;
  autocomplete?: string;
}

export const FORM_FIELDS = [
  // The birth record is the basis of a passport name; DRP's full name is shown beside it when it differs.
  { key: 'fullName', label: 'Full name', sources: ['name', 'fullName'], input: 'text', required: true },
  { key: 'otherNames', label: 'Other names', sources: ['otherNames'], input: 'text', required: false },
  { key: 'dateOfBirth', label: 'Date of birth', sources: ['dateOfBirth'], input: 'date', required: true },
  { key: 'sex', label: 'Sex', sources: ['sex'], input: 'sex', required: true },
  {
    key: 'placeOfBirth',
    label: 'Place of birth',
    sources: ['birthInfo.birthPlace'],
    input: 'text',
    required: true,
  },
  {
    key: 'districtOfBirth',
    label: 'District of birth',
    sources: ['birthInfo.district'],
    input: 'text',
    required: false,
  },
  {
    key: 'birthRegistrationNumber',
    label: 'Birth registration number',
    sources: ['birthInfo.birthRegistrationNumber'],
    input: 'text',
    required: false,
  },
  { key: 'address', label: 'Permanent address', sources: ['address'], input: 'textarea', required: true },
  { key: 'profession', label: 'Profession', sources: ['profession'], input: 'text', required: false },
] as const satisfies readonly (Omit<FormFieldSpec, 'key'> & { key: string })[];

export type FormFieldKey = (typeof FORM_FIELDS)[number]['key'];

/** Where a submitted value came from: an agency through NDX, or typed by the officer. */
export type Provenance = Agency | 'OFFICER';

/** What the form shows for one field before the officer edits it. */
export interface Prefill {
  value: string;
  /** The agency of the value used, when NDX released one. */
  agency?: Agency;
  /** Each source consulted, in order, with what NDX said about it. */
  sources: { field: NdxField; agency: Agency; status: FieldStatus; value: string | null }[];
  /** True when two agencies released different values for this field (shown side by side). */
  mismatch: boolean;
}

const normalise = (value: string) => value.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();

/** The form's starting values: for each field the first released source value, with every source's answer. */
export function prefill(lookup: Lookup | undefined): Record<FormFieldKey, Prefill> {
  const out = {} as Record<FormFieldKey, Prefill>;
  for (const spec of FORM_FIELDS) {
    const sources = spec.sources.map((field) => {
      const v = lookup?.values[field];
      return {
        field,
        agency: v?.agency ?? 'RGD',
        status: v?.status ?? 'NOT_FETCHED',
        value: v?.value ?? null,
      };
    });
    const released = sources.filter((s) => s.status === 'RELEASED' && s.value !== null);
    const first = released[0];
    const distinct = new Set(released.map((s) => normalise(s.value!)));
    out[spec.key] = {
      value: first?.value ?? '',
      ...(first ? { agency: first.agency } : {}),
      sources,
      mismatch: distinct.size > 1,
    };
  }
  return out;
}

export interface SubmittedField {
  value: string;
  provenance: Provenance;
}

export type SubmittedForm = Record<FormFieldKey, SubmittedField>;

const text = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);

const submissionSchema = z.object({
  fullName: text(200).min(1, 'is required'),
  otherNames: text(200).default(''),
  dateOfBirth: z
    .string()
    .trim()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date (YYYY-MM-DD)')
    .refine(
      (v) =>
        !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v),
      'is not a real date',
    ),
  sex: z.enum(['MALE', 'FEMALE'], { error: 'must be chosen' }),
  placeOfBirth: text(200).min(1, 'is required'),
  districtOfBirth: text(100).default(''),
  birthRegistrationNumber: text(50).default(''),
  address: text(500).min(1, 'is required'),
  profession: text(100).default(''),
});

export type FormErrors = Partial<Record<FormFieldKey, string>>;

/**
 * Checks the officer's submission. Valid: each value with its provenance (the agency when it equals
 * what that agency released, otherwise OFFICER). Invalid: the messages per field and the values as typed.
 */
export function parseSubmission(
  body: Record<string, unknown>,
  lookup: Lookup | undefined,
  today: Date,
): { ok: true; form: SubmittedForm } | { ok: false; errors: FormErrors; values: Record<string, string> } {
  const values = Object.fromEntries(
    FORM_FIELDS.map((f) => [f.key, typeof body[f.key] === 'string' ? (body[f.key] as string) : '']),
  );
  const parsed = submissionSchema.safeParse(values);
  const errors: FormErrors = {};
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0] as FormFieldKey;
      errors[key] ??= issue.message;
    }
  } else if (parsed.data.dateOfBirth > today.toISOString().slice(0, 10)) {
    errors.dateOfBirth = 'cannot be in the future';
  }
  if (!parsed.success || Object.keys(errors).length > 0) return { ok: false, errors, values };

  const starting = prefill(lookup);
  const form = {} as SubmittedForm;
  for (const spec of FORM_FIELDS) {
    const value = parsed.data[spec.key];
    const match = starting[spec.key].sources.find(
      (s) => s.status === 'RELEASED' && s.value !== null && s.value.trim() === value,
    );
    form[spec.key] = { value, provenance: match ? match.agency : 'OFFICER' };
  }
  return { ok: true, form };
}
