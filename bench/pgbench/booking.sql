-- One instant booking (POST /v1/appointments), statement for statement as booking writes it in one transaction
-- (commit 11345d9's hot path): services/booking/src/booking/service_layer/holds.py (_claim, claim_seat, _insert),
-- adapters/repository.py and smartslot_common.messaging.add_to_outbox. Run by bench/baselines/pgbench.py with
-- `-M prepared` (asyncpg prepares every statement too) and search_path set to a copy of the booking schema whose
-- slots were made up front; every transaction takes the next unused slot, so there is no contention.
-- When booking's hot path changes, change this file with it.
BEGIN;
-- repo.database_now: the one clock every deadline uses
SELECT clock_timestamp() AS now \gset
-- holds._read_slot; the pick of the next pre-made slot (the sub-select) is the only thing booking does not do
SELECT id, provider_id, service_id, starts_at, ends_at, capacity, held, booked, status, version,
       reserved_until IS NOT NULL AS reserved
FROM slots WHERE id = (SELECT md5(nextval('pgbench_slot_pick')::text)::uuid) \gset slot_
-- repo.take_seat: the compare-and-set on the slot's version (RETURNING only so that a lost CAS fails loudly)
UPDATE slots SET booked = booked + 1, version = version + 1, updated_at = now()
WHERE id = :slot_id AND version = :slot_version AND status = 'open' AND held + booked < capacity
RETURNING version AS new_version \gset
-- repo.appointment_context: what the event tells consumers (zone, names, place, price, currency), read once
SELECT p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, s.name AS service_name,
       s.price_cents, s.currency, c.name AS clinic_name, c.address AS clinic_address
FROM providers p JOIN clinics c ON c.id = p.clinic_id, services s
WHERE p.id = :slot_provider_id AND s.id = :slot_service_id \gset ctx_
-- repo.insert_appointment: an instant booking is inserted `confirmed`, with no hold deadline
INSERT INTO appointments (id, slot_id, provider_id, service_id, client_id, status, starts_at, ends_at,
                          hold_expires_at, origin, assignment, assignment_reason, lock_token, client_email,
                          client_name, currency)
VALUES (gen_random_uuid(), :slot_id, :slot_provider_id, :slot_service_id, gen_random_uuid(), 'confirmed',
        :slot_starts_at, :slot_ends_at, NULL, 'client', 'chosen', NULL, NULL, 'bench-client@example.com',
        'Bench Client', :ctx_currency)
RETURNING id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin,
          assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence \gset appt_
-- repo.record_first_transitions: both audit rows (none -> locked -> confirmed) in one round trip (asyncpg's
-- executemany pipelines one prepared INSERT twice; one two-row INSERT is pgbench's nearest equivalent)
INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
VALUES (:appt_id, NULL, 'locked', :appt_client_id, 'client', 'instant booking'),
       (:appt_id, 'locked', 'confirmed', :appt_client_id, 'client', 'instant booking');
-- add_to_outbox: appointment.confirmed in the same transaction (an envelope of the real shape and size)
INSERT INTO outbox (id, event_type, envelope)
VALUES (gen_random_uuid(), 'appointment.confirmed', json_build_object(
    'id', gen_random_uuid(), 'type', 'appointment.confirmed', 'version', 1, 'occurred_at', clock_timestamp(),
    'producer', 'booking', 'correlation_id', NULL,
    'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'payload', json_build_object(
        'appointment_id', :appt_id::text, 'status', 'confirmed', 'slot_id', :slot_id::text,
        'provider_id', :slot_provider_id::text, 'service_id', :slot_service_id::text,
        'client_id', :appt_client_id::text, 'starts_at', :slot_starts_at::text, 'ends_at', :slot_ends_at::text,
        'hold_expires_at', NULL, 'origin', 'client', 'currency', :ctx_currency::text,
        'client_email', 'bench-client@example.com', 'client_name', 'Bench Client', 'ics_sequence', 0,
        'timezone', :ctx_timezone::text, 'provider_name', :ctx_provider_name::text,
        'provider_user_id', :ctx_provider_user_id::text, 'service_name', :ctx_service_name::text,
        'price_cents', :ctx_price_cents::integer, 'clinic_name', :ctx_clinic_name::text,
        'clinic_address', :ctx_clinic_address::text))::text::jsonb);
COMMIT;
