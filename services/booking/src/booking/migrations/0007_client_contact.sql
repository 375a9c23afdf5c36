-- The client's contact details as they were when the booking was made (the gateway forwards them with the
-- verified identity), so notifications never need to ask the identity service.
ALTER TABLE appointments ADD COLUMN client_email text, ADD COLUMN client_name text;
