-- The coverage check (POST /v1/consents/check) reads the active consents of one (citizen, consumer,
-- purpose), newest grant first, unexpired. This partial index holds exactly those rows, in that order,
-- with the expiry beside them: the check is one index range scan (no sort, no other status read), and its
-- cost does not grow with the number of consents of other citizens, or with this citizen's ended ones.
CREATE INDEX consents_active_by_subject
  ON consents (citizen_id, consumer_id, purpose, granted_at DESC, id)
  INCLUDE (expires_at)
  WHERE status = 'ACTIVE';

-- Served only the check, which the index above now serves better (the citizen's list and the open-request
-- lookups have indexes of their own); one index less to maintain on every write.
DROP INDEX consents_by_subject;
