-- Applicants and officers sign in with FUDI. A session is anonymous (only a CSRF token, for the sign-in
-- form), a sign-in in progress (login: PKCE verifier, state, nonce, where to return), or signed in
-- (subject: the FUDI subject, role: applicant or officer). Sessions from before are dropped: they
-- belonged to nobody.
DELETE FROM consent_states;
DELETE FROM sessions;
ALTER TABLE sessions
  ADD COLUMN subject text,
  ADD COLUMN role text CHECK (role IN ('applicant', 'officer')),
  ADD COLUMN name text,
  ADD COLUMN login jsonb,
  ADD COLUMN id_token text,
  ADD CONSTRAINT sessions_signed_in CHECK ((subject IS NULL) = (role IS NULL));

-- An application belongs to the person it is about (an applicant sees those for their own NIC) and
-- records who started it; officers may process any. The browser session no longer owns it.
ALTER TABLE applications
  ADD COLUMN started_by text,
  ADD COLUMN started_by_role text CHECK (started_by_role IN ('applicant', 'officer')),
  ADD CONSTRAINT applications_started_by CHECK ((started_by IS NULL) = (started_by_role IS NULL));
DROP INDEX applications_by_owner;
ALTER TABLE applications DROP COLUMN owner_session_hash;
CREATE INDEX applications_by_starter ON applications (started_by, created_at DESC);
