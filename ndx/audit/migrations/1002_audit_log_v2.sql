-- Audit record format 2 (issue 13): who asked, which reference, which consent allowed what.
-- Additive only: every existing row keeps its content and its hash. The new columns are NULL for
-- format 1 rows (their hash rule does not know them; verify treats a value there as a change).
--
--   reference           the OE's own reference for the request (random; shown to citizens, returned to
--                       the consumer in NDX-Audit-Reference); never taken from the caller
--   caller_traceparent  the W3C traceparent the consumer sent, if any, kept for correlation only
--   end_user            {subject, role, assertedBy}: the end user the consumer says it asked for
--                       (NDX-End-User header), asserted by the consumer, not verified by NDX
--   consent_requested   the pending consent request NDX opened for the fields still missing (asked
--                       for; it authorised nothing). Which consent allowed each released field is in
--                       fields_released[].allowedBy.
ALTER TABLE audit_log
  ADD COLUMN reference text,
  ADD COLUMN caller_traceparent text,
  ADD COLUMN end_user jsonb,
  ADD COLUMN consent_requested text;

-- Every format 2 record has its own reference; format 1 records never had one.
ALTER TABLE audit_log
  ADD CONSTRAINT audit_log_reference_by_format
  CHECK ((format_version = 1 AND reference IS NULL) OR (format_version >= 2 AND reference IS NOT NULL));

-- A complaint quotes the reference: find its records without a scan.
CREATE INDEX audit_log_reference_idx ON audit_log (reference) WHERE reference IS NOT NULL;
