-- The purpose a consumer's query has when it names none (the NDX-Purpose header). NULL: none set; the
-- registry then answers the consumer's only purpose, when it has exactly one.
ALTER TABLE consumers ADD COLUMN default_purpose text;
