-- hsmgw schema, version 6: notices of key changes. Gateway instances keep copies of key metadata (keys.cache_ms). A change to a key or to its
-- versions, made by any instance or by hsmgwctl, tells every instance listening on the
-- channel hsmgw_keys to drop its copies; the notice is sent when the change commits.
CREATE FUNCTION keys_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hsmgw_keys', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER keys_notify AFTER UPDATE OR DELETE ON keys
    FOR EACH STATEMENT EXECUTE FUNCTION keys_notify_change();
CREATE TRIGGER key_versions_notify AFTER INSERT OR UPDATE OR DELETE ON key_versions
    FOR EACH STATEMENT EXECUTE FUNCTION keys_notify_change();
