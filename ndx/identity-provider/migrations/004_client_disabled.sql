-- A client an operator disabled (ndx consumer disable): FUDI no longer knows it, so it gets no token; the
-- row stays, so the client id is not reused by mistake and the operator can see what was disabled and when.
ALTER TABLE clients ADD COLUMN disabled_at timestamptz;
