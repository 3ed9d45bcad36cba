ALTER TABLE people ADD COLUMN email text;
INSERT INTO people (name, email) VALUES ('Ada', 'ada@example.fl');
