-- The language each user works in (issue 21): the web app speaks it after login, on any
-- browser. Null means "follow the browser", which is also what a new user gets.
ALTER TABLE users
    ADD COLUMN locale text CHECK (locale IN ('pt-BR', 'en'));
