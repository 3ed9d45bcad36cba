-- Consumers and purposes an operator registered at run time (ndx consumer add), on top of the ones the
-- service's configuration names (CONSENT_CONSUMERS, CONSENT_PURPOSES): an entry here wins over the
-- configuration's. A disabled consumer keeps its name (citizens still see who holds their consents) but
-- may ask for no new consent.
CREATE TABLE operator_consumers (
  consumer_id text PRIMARY KEY,
  display_name text NOT NULL,
  agency text NOT NULL,
  redirect_uris jsonb NOT NULL DEFAULT '[]',
  disabled_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_purposes (
  purpose text PRIMARY KEY,
  text text NOT NULL,
  legal_basis text NOT NULL,
  duration_days numeric NOT NULL CHECK (duration_days > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
