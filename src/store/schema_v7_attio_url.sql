-- The Attio web address of each synced deal (from the record Attio returns), for the TUI.
ALTER TABLE attio_deals ADD COLUMN web_url TEXT;
