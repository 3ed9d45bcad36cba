import { NdxError } from '@ndx/service-kit';
import { parseNic, type EndUser, type EndUserRole, type Nic } from '@ndx/contract';

/**
 * Who may do what in the passport app, in one place. Everyone signs in with FUDI. An applicant (any
 * signed-in person without the officer role) may start, see and submit applications for their own
 * NIC only: their FUDI subject, which is their canonical NIC. A DIE officer (the officer role in the
 * ID token's `roles` claim) may process any application. Nobody signed in may read anything.
 */

/** The person signed in to a session. */
export interface SignedInUser {
  /** The FUDI subject (a citizen's canonical NIC). */
  subject: string;
  role: EndUserRole;
  /** The name FUDI gave, for the page header. */
  name?: string | undefined;
}

/** An officer when FUDI's `roles` claim lists the officer role; everyone else applies for themselves. */
export function roleOf(rolesClaim: unknown, officerRole: string): EndUserRole {
  return Array.isArray(rolesClaim) && rolesClaim.includes(officerRole) ? 'officer' : 'applicant';
}

/** The applicant's own NIC (their FUDI subject in canonical form), or null when the subject is not a NIC. */
export function ownNic(user: SignedInUser): Nic | null {
  return parseNic(user.subject);
}

/** True when the user may start, see or change an application about this NIC. */
export function mayProcess(user: SignedInUser, nic: Nic): boolean {
  if (user.role === 'officer') return true;
  const own = ownNic(user);
  return own !== null && own === nic;
}

/** Who NDX is told the app asks for (the NDX-End-User header). */
export function endUserOf(user: SignedInUser): EndUser {
  return { subject: user.subject, role: user.role };
}

/** No one is signed in: the page or form needs a FUDI sign-in first. */
export class SignInRequiredError extends NdxError {
  constructor() {
    super(
      'SIGN_IN_REQUIRED',
      'Sign in with your FUDI account (your NIC and password) to use the passport application service.',
      401,
    );
  }
}

/** An applicant asked about a NIC that is not theirs. */
export class NotOwnNicError extends NdxError {
  constructor(user: SignedInUser) {
    const own = ownNic(user);
    super(
      'NOT_OWN_NIC',
      own
        ? `You are signed in as NIC ${own}: you can apply for a passport for yourself only. For someone else’s application, they sign in themselves, or a DIE officer helps at a passport office.`
        : 'Your FUDI account is not a citizen account with a NIC, so it cannot start a passport application.',
      403,
    );
  }
}
