-- What a deal is worth (issue 21: the board shows values and totals in the user's currency
-- format). In the currency's minor unit (centavos for BRL), as payment APIs do: exact sums, no
-- floating point. Null while nobody has said.
ALTER TABLE deals
    ADD COLUMN value_minor bigint CHECK (value_minor BETWEEN 0 AND 100000000000000),
    ADD COLUMN currency text NOT NULL DEFAULT 'BRL' CHECK (currency ~ '^[A-Z]{3}$');
