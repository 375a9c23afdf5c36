-- A writer whose relay runs in its own process wakes it itself (its pool sets smartslot.relay_in_process = on, see
-- messaging/outbox.py): no notification for it, which cost the writer, the listening backend and the relay's
-- connection about 0.1 ms of CPU per commit. Every other writer still wakes the relays by notification.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('smartslot.relay_in_process', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    END IF;
    RETURN NULL;
END;
$$;
