-- hsmgw schema, version 4: the state a key had when its destruction was scheduled. Cancelling
-- the destruction must never give a key more rights than it had: a deactivated or compromised
-- key returns to that state, not to `suspended` (from where it could be resumed).
ALTER TABLE keys ADD COLUMN prior_state text;
