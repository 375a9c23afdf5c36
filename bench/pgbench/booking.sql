-- One instant booking (POST /v1/appointments), statement for statement as booking writes it in one transaction:
-- services/booking/src/booking/service_layer/holds.py (_claim, _insert, _confirm), transitions.py, seats.py,
-- adapters/repository.py and smartslot_common.messaging.add_to_outbox. Run by bench/baselines/pgbench.py with
-- `-M prepared` (asyncpg prepares every statement too) and search_path set to a copy of the booking schema whose
-- slots were made up front; every transaction takes the next unused slot, so there is no contention.
BEGIN;
-- repo.database_now: the one clock every deadline uses
SELECT clock_timestamp() AS now \gset
-- holds._read_slot; the pick of the next pre-made slot (the sub-select) is the only statement booking does not run
SELECT id, provider_id, service_id, starts_at, ends_at, capacity, held, booked, status, version,
       reserved_until IS NOT NULL AS reserved
FROM slots WHERE id = (SELECT md5(nextval('pgbench_slot_pick')::text)::uuid) \gset slot_
-- repo.take_seat: the compare-and-set on the slot's version (RETURNING only so that a lost CAS fails loudly)
UPDATE slots SET booked = booked + 1, version = version + 1, updated_at = now()
WHERE id = :slot_id AND version = :slot_version AND status = 'open' AND held + booked < capacity
RETURNING version AS new_version \gset
-- holds._currency
SELECT currency FROM services WHERE id = :slot_service_id \gset
-- repo.insert_appointment: the seat as `locked`, then its first audit row (repo.record_transition)
INSERT INTO appointments (id, slot_id, provider_id, service_id, client_id, status, starts_at, ends_at,
                          hold_expires_at, origin, assignment, assignment_reason, lock_token, client_email,
                          client_name, currency)
VALUES (gen_random_uuid(), :slot_id, :slot_provider_id, :slot_service_id, gen_random_uuid(), 'locked',
        :slot_starts_at, :slot_ends_at, :now::timestamptz + interval '300 seconds', 'client', 'chosen', NULL, NULL,
        'bench-client@example.com', 'Bench Client', :currency)
RETURNING id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin,
          assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence \gset appt_
INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
VALUES (:appt_id, NULL, 'locked', :appt_client_id, 'client', 'instant booking');
-- holds._confirm: repo.lock_appointment, then transitions.transition (a CAS on the appointment's version)
-- and its audit row
SELECT id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin,
       assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence, version,
       lock_token
FROM appointments WHERE id = :appt_id FOR UPDATE \gset locked_
UPDATE appointments SET status = 'confirmed', version = version + 1, updated_at = now(), hold_expires_at = NULL
WHERE id = :appt_id AND version = :locked_version
RETURNING id, status, slot_id, provider_id, service_id, client_id, starts_at, ends_at, hold_expires_at, origin,
          assignment, fee_cents, currency, created_at, updated_at, client_email, client_name, ics_sequence, version,
          lock_token \gset confirmed_
INSERT INTO appointment_transitions (appointment_id, from_status, to_status, actor_id, actor_role, reason)
VALUES (:appt_id, 'locked', 'confirmed', :appt_client_id, 'client', 'instant booking');
-- seats.appointment_event: the context every appointment event carries (repo.APPOINTMENT_CONTEXT)
SELECT p.timezone, p.display_name AS provider_name, p.user_id AS provider_user_id, s.name AS service_name,
       s.price_cents, c.name AS clinic_name, c.address AS clinic_address
FROM providers p JOIN clinics c ON c.id = p.clinic_id, services s
WHERE p.id = :slot_provider_id AND s.id = :slot_service_id \gset ctx_
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
        'hold_expires_at', NULL, 'origin', 'client', 'currency', :currency::text,
        'client_email', 'bench-client@example.com', 'client_name', 'Bench Client', 'ics_sequence', 0,
        'timezone', :ctx_timezone::text, 'provider_name', :ctx_provider_name::text,
        'provider_user_id', :ctx_provider_user_id::text, 'service_name', :ctx_service_name::text,
        'price_cents', :ctx_price_cents::integer, 'clinic_name', :ctx_clinic_name::text,
        'clinic_address', :ctx_clinic_address::text))::text::jsonb);
COMMIT;
