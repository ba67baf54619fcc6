-- Raw events move into packed blocks (see src/store/blocks.rs): one row per up to 4,096 events
-- of one UTC day. The `events` rows are copied over by the migration code before this runs the
-- drops below; `user_day` and `feature_day` were copies of what `account_units` holds.
DROP TABLE events;
DROP TABLE user_day;
DROP TABLE feature_day;
